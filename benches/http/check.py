#!/usr/bin/env python3
"""Correctness check of one http-bench variant before it is loaded.

usage: check.py BASE_URL VARIANT

Plays two browsers against GET /cart: the first request creates a session
from the corpus, later ones send the cookies back; five adds must each land
(the new SKU is last, the cart grows to its cap of 4 and keeps the newest),
reads must see what the adds wrote, and a second client must get a session
of its own. The `none` and `actix-none` variants (no session) only have to answer 200; `none-cookie` also carries a cookie of a sealed session's size.
Exits non-zero, saying why, when anything differs.
"""
import http.client
import re
import sys
import urllib.parse

MAX_CART = 4
LINE = re.compile(r"^visitor=(\S+) items=(\d+) last=(\d+) new=([01])\n$")


class Browser:
    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        self.cookies = {}

    def get(self, path):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            fail(f"GET {path}: status {response.status}: {body!r}")
        for header in response.headers.get_all("Set-Cookie") or []:
            pair = header.split(";", 1)[0].strip()
            name, _, value = pair.partition("=")
            if "max-age=0" in header.lower() or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        match = LINE.match(body)
        if not match:
            fail(f"GET {path}: unexpected body {body!r}")
        visitor, items, last, new = match.groups()
        return {"visitor": visitor, "items": int(items), "last": int(last), "new": new == "1"}


def fail(message):
    print(f"check {VARIANT}: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(what, got, wanted):
    if got != wanted:
        fail(f"{what}: got {got!r}, expected {wanted!r}")


def main(base):
    a = Browser(base)
    if VARIANT in ("none", "actix-none"):
        for path in ("/cart", "/cart?add=1001", "/cart"):
            a.get(path)
        expect("cookies set without a session", a.cookies, {})
        print(f"check {VARIANT}: ok (no session: 200 and the answer's format only)")
        return
    if VARIANT == "none-cookie":
        # No session, but the cookie's bytes travel as they would with one.
        first = a.get("/cart")
        expect("first request is told it is new", first["new"], True)
        if len(a.cookies.get("session", "")) < 200:
            fail("the first response set no cookie of a sealed session's size")
        carried = dict(a.cookies)
        expect("the cookie is sent back (new)", a.get("/cart")["new"], False)
        a.get("/cart?add=1001")
        expect("the cookie is set again on a change", a.cookies, carried)
        print(f"check {VARIANT}: ok (no session; a {len(carried['session'])}-byte cookie carried)")
        return
    first = a.get("/cart")
    expect("first request creates a session", first["new"], True)
    if not a.cookies:
        fail("the first response set no cookie")
    again = a.get("/cart")
    expect("second request reads the session (new)", again["new"], False)
    expect("second request reads the session (visitor)", again["visitor"], first["visitor"])
    expect("second request reads the session (items)", again["items"], first["items"])
    items = first["items"]
    for sku in range(1001, 1006):
        added = a.get(f"/cart?add={sku}")
        items = min(items + 1, MAX_CART)
        expect(f"add {sku}: visitor", added["visitor"], first["visitor"])
        expect(f"add {sku}: last item", added["last"], sku)
        expect(f"add {sku}: items", added["items"], items)
        read = a.get("/cart")
        expect(f"read after add {sku}: last item", read["last"], sku)
        expect(f"read after add {sku}: items", read["items"], items)
        expect(f"read after add {sku}: new", read["new"], False)
    expect("cart at its cap", items, MAX_CART)
    b = Browser(base)
    other = b.get("/cart")
    expect("second client starts a session", other["new"], True)
    if other["visitor"] == first["visitor"]:
        fail("the second client got the first client's session")
    expect("first client unaffected", a.get("/cart")["last"], 1005)
    print(f"check {VARIANT}: ok (session created from the corpus, read back, 5 adds landed, "
          f"cart {first['items']} -> {items} items, second client separate)")


if __name__ == "__main__":
    VARIANT = sys.argv[2]
    main(sys.argv[1])
