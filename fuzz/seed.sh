#!/usr/bin/env bash
# Builds the seed corpora fuzz/corpus/<target>/ from the test data: the
# session corpus (tests/data/corpus) and the wire-format vectors
# (tests/format_vectors.rs), and for dbsc_endpoints genuine device
# binding requests (examples/dbsc_seeds.rs). fuzz/corpus is git-ignored;
# run.sh calls this before fuzzing, and re-running only adds files.
set -euo pipefail
cd "$(dirname "$0")"
data=../tests/data
out=corpus

targets=(open_value open_value_with_header decode_cookie_header round_trip key_ring_config chunked_decode dbsc_endpoints)
for t in "${targets[@]}"; do mkdir -p "$out/$t"; done

# The expected values of the format vectors, one per line.
vectors=$(awk '
  /expected: concat!\(/ { collecting = 1; value = ""; next }
  collecting && /^ *\),?$/ { print value; collecting = 0; next }
  collecting { gsub(/[ ",]/, ""); value = value $0; next }
  /expected: "/ { line = $0; sub(/.*expected: "/, "", line); sub(/".*/, "", line); print line }
' ../tests/format_vectors.rs)
[ -n "$vectors" ] || { echo "seed.sh: no vectors found in tests/format_vectors.rs" >&2; exit 1; }

b64url_decode() { # stdin: unpadded base64url; stdout: bytes
  local s; s=$(tr -- '-_' '+/'); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done
  printf '%s' "$s" | base64 -d
}

i=0
while IFS= read -r v; do
  i=$((i + 1))
  printf '%s' "$v" > "$out/open_value/vector-$i"
  printf '%s' "${v:0:60}" > "$out/open_value/vector-$i-truncated"
  # open_value_with_header adds version and key id itself: seed the rest.
  printf '%s' "$v" | b64url_decode | tail -c +6 > "$out/open_value_with_header/vector-$i"
  printf 'session=%s' "$v" > "$out/decode_cookie_header/vector-$i"
  printf 'theme=dark; session=%s; session=%s; lang=de' "${v:0:40}" "$v" > "$out/decode_cookie_header/vector-$i-dup"
  printf 'session=2.%s; session.1=%s' "${v:0:50}" "${v:50}" > "$out/decode_cookie_header/vector-$i-chunked"
  printf 'session=3.%s; session.2=%s; session.1=%s' "${v:0:30}" "${v:60}" "${v:30:30}" > "$out/chunked_decode/vector-$i"
done <<< "$vectors"

# Session corpus lines: JSON for the structure-aware targets (arbitrary
# reads them as bytes) and as hostile text for the others.
for tier in small typical large oversize; do
  head -n 25 "$data/corpus/sessions-$tier.jsonl" | split -l 1 -a 3 - "$out/round_trip/$tier-"
  head -n 5 "$data/corpus/sessions-$tier.jsonl" | split -l 1 -a 3 - "$out/open_value/$tier-"
  head -n 5 "$data/corpus/sessions-$tier.jsonl" | split -l 1 -a 3 - "$out/chunked_decode/$tier-"
done

# Key ring configuration in both forms, valid and broken.
k1=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE
k2=AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI
cfg="$out/key_ring_config"
printf '%s' "$k1" > "$cfg/bare"
printf '%s,%s' "$k1" "$k2" > "$cfg/comma"
printf '# rotated\nprimary %s\nactive %s\n' "$k1" "$k2" > "$cfg/states"
printf 'primary %s\nretired %s until 2027-01-01T00:00:00Z\n' "$k1" "$k2" > "$cfg/retired-date"
printf 'primary %s\nretired %s until 1767225600\nrevoked %s\n' "$k1" "$k2" "$k1" > "$cfg/revoked-dup"
printf 'primary AQEB\n' > "$cfg/short-key"
printf '{"keys":[{"key":"%s","state":"primary"},{"key":"%s","state":"retired","until":1767225600}]}' "$k1" "$k2" > "$cfg/json"
printf '{"keys":[{"key":"%s","state":"retired","until":"2027-01-01T00:00:00Z"}]}' "$k1" > "$cfg/json-no-primary"

# Device binding requests: genuine registrations and refreshes need the
# crate's sealing and a P-256 signature made with the target's own codec,
# time and nonces, so a Rust example writes them (examples/dbsc_seeds.rs).
cargo run --quiet --example dbsc_seeds -- "$out/dbsc_endpoints"

for t in "${targets[@]}"; do
  printf '%-24s %s seeds\n' "$t" "$(find "$out/$t" -type f | wc -l)"
done
