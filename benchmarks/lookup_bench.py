"""The shopper's order lookup under load, and the lookup rate limits under attack.

The real stack on loopback, as in ``e2e_bench.py`` (a throwaway PostgreSQL database with
20,000 orders, Redis flushed, ``portal serve --workers 2``; no job worker), but with the
DEFAULT lookup limit (``PORTAL_LOOKUP_ATTEMPTS_PER_MINUTE=10``, per client address and per
order number, in fixed 60 s windows). Clients are told apart by peer address, so the load
processes bind their own source addresses on loopback (127.0.0.2 ... 127.0.255.254) and
look like many different people:

1. shoppers: S at a time, every one from its own address, each looking a different real
   order up once (``GET /`` for the CSRF cookie, then ``POST /``) for T seconds;
2. one attacker address guessing order numbers as fast as it can (16 connections) for T
   seconds while the shoppers go on: how many guesses got past the limiter, how fast the
   429 refusals are, and whether the honest shoppers slowed down;
3. a distributed attack on ONE order number, one guess from each of 200 addresses: how
   many got past the per-order limit, and what the real owner then gets from a fresh
   address (the known trade-off of per-order limits: the owner is locked out until the
   window ends) -- and again after waiting out ``Retry-After``.

Run: ``uv run python benchmarks/lookup_bench.py [--seconds 15] [--shoppers 32] [--json PATH]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import e2e_bench  # noqa: E402
from e2e_bench import (  # noqa: E402
    EMAIL,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    _admin,
    _free_port,
    seed_store,
    start,
    stop,
    wait_port,
)

ORDERS = 20_000
WINDOW = 60  # the portal's fixed lookup window, seconds
ATTACKER_ADDRESS = 65_000  # address indexes (see ``address``); shoppers count up from 1
DISTRIBUTED_FIRST = 60_000
OWNER_ADDRESS = 64_000
TARGET_ORDER = ORDERS  # the distributed attack's target; shoppers never reach it
MAX_SHOPPER_ADDRESS = 59_000


def address(index: int) -> str:
    """The ``index``-th loopback source address, skipping 127.0.0.1 (the load never
    comes from 127.0.0.1: uvicorn trusts X-Forwarded-For from there)."""
    if not 1 <= index < 256 * 254:
        raise ValueError(index)
    return f"127.0.{index // 254}.{index % 254 + 1}"


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile in milliseconds (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


_TLS: list[Any] = []


def _client(base: str, index: int, connections: int = 1) -> Any:
    """An HTTP client from the ``index``-th source address. The TLS context (unused on
    plain HTTP) is made once: httpx would otherwise load the CA bundle for every client,
    ~35 ms of the load generator's CPU per shopper, on the cores the server needs."""
    import ssl

    import httpx

    if not _TLS:
        _TLS.append(ssl.create_default_context())
    return httpx.AsyncClient(
        base_url=base,
        follow_redirects=False,
        timeout=30,
        verify=_TLS[0],
        transport=httpx.AsyncHTTPTransport(
            local_address=address(index),
            limits=httpx.Limits(max_connections=connections),
            verify=_TLS[0],
        ),
    )


async def _lookup(client: Any, number: str, contact: str) -> Any:
    """``GET /`` once per client for the CSRF cookie, then ``POST /``."""
    if "portal_csrf" not in client.cookies:
        await client.get("/")
    return await client.post(
        "/",
        data={
            "order_number": number,
            "contact": contact,
            "_csrf_token": client.cookies["portal_csrf"],
        },
    )


# --- load processes (each run in a separate process, answering one JSON line) ----------


async def _shoppers(
    base: str, seconds: float, shoppers: int, first_address: int, first_order: int
) -> dict[str, Any]:
    """``shoppers`` at a time; every lookup is a new person (address) and a new order."""
    deadline = time.monotonic() + seconds
    counter = {"next": 0}
    latencies: list[float] = []
    pages: list[float] = []
    refused: list[int] = []
    errors: list[str] = []

    async def one_shopper() -> None:
        while time.monotonic() < deadline:
            k = counter["next"]
            counter["next"] += 1
            index, n = first_address + k, first_order + k
            if index > MAX_SHOPPER_ADDRESS or n >= TARGET_ORDER:
                errors.append("ran out of addresses or orders")
                return
            try:
                async with _client(base, index) as client:
                    started = time.perf_counter()
                    await client.get("/")  # a new connection, and the CSRF cookie
                    pages.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    r = await _lookup(client, f"B{n}", EMAIL.format(n=n))
                    elapsed = time.perf_counter() - started
                if r.status_code == 303 and r.headers.get("location") == "/order":
                    latencies.append(elapsed)
                elif r.status_code == 429:
                    refused.append(n)
                else:
                    errors.append(f"B{n}: HTTP {r.status_code}")
            except Exception as exc:  # counted, never hidden
                errors.append(repr(exc)[:200])

    started = time.perf_counter()
    await asyncio.gather(*(one_shopper() for _ in range(shoppers)))
    took = time.perf_counter() - started
    return {
        "shoppers": shoppers,
        "lookups": len(latencies),
        "seconds": took,
        "lookups_per_s": len(latencies) / took,
        "post_p50_ms": pct(latencies, 0.5),
        "post_p99_ms": pct(latencies, 0.99),
        "get_p50_ms": pct(pages, 0.5),
        "get_p99_ms": pct(pages, 0.99),
        "errors": len(errors),
        "wrongly_refused_429": len(refused),
        "addresses_used": counter["next"],
        "first_errors": errors[:3],
    }


async def _attacker(base: str, seconds: float, connections: int) -> dict[str, Any]:
    """One address guessing order numbers (that do not exist) as fast as it can."""
    deadline = time.monotonic() + seconds
    counter = {"next": 0, "passed": 0}
    refusals: list[float] = []
    retry_after: list[int] = []
    other: dict[str, int] = {}
    errors: list[str] = []
    async with _client(base, ATTACKER_ADDRESS, connections) as client:
        await client.get("/")

        async def guesser() -> None:
            while time.monotonic() < deadline:
                k = counter["next"]
                counter["next"] += 1
                started = time.perf_counter()
                try:
                    r = await _lookup(client, f"B{100_000 + k}", f"guess{k}@example.com")
                except Exception as exc:
                    errors.append(repr(exc)[:200])
                    continue
                elapsed = time.perf_counter() - started
                if r.status_code == 429:
                    refusals.append(elapsed)
                    if "retry-after" in r.headers:
                        retry_after.append(int(r.headers["retry-after"]))
                elif r.status_code == 400:  # got past the limiter: a real (failed) lookup
                    counter["passed"] += 1
                else:
                    other[str(r.status_code)] = other.get(str(r.status_code), 0) + 1

        first_window = int(time.time() // WINDOW)
        started = time.perf_counter()
        await asyncio.gather(*(guesser() for _ in range(connections)))
        took = time.perf_counter() - started
        windows = int(time.time() // WINDOW) - first_window + 1
    return {
        "connections": connections,
        "attempts": counter["next"],
        "seconds": took,
        "attempts_per_s": counter["next"] / took,
        "got_past": counter["passed"],
        "windows_spanned": windows,  # the limit applies per fixed 60 s window
        "refused_429": len(refusals),
        "refusal_p50_ms": pct(refusals, 0.5),
        "refusal_p99_ms": pct(refusals, 0.99),
        "retry_after_min": min(retry_after, default=None),
        "retry_after_max": max(retry_after, default=None),
        "refusals_without_retry_after": len(refusals) - len(retry_after),
        "other_statuses": other,
        "errors": len(errors),
        "first_errors": errors[:3],
    }


async def _distributed(base: str, guesses: int, wait_owner: bool) -> dict[str, Any]:
    """One guess at the target order from each of ``guesses`` addresses, then its owner."""
    left = WINDOW - time.time() % WINDOW
    waited = 0.0
    if left < 15:  # start the attack inside one window, so the count is about one window
        waited = left + 0.5
        await asyncio.sleep(waited)
    window = int(time.time() // WINDOW)
    number, owner = f"B{TARGET_ORDER}", EMAIL.format(n=TARGET_ORDER)
    statuses: dict[str, int] = {}
    gate = asyncio.Semaphore(20)

    async def guess(i: int) -> None:
        async with gate, _client(base, DISTRIBUTED_FIRST + i) as client:
            try:
                r = await _lookup(client, number, f"guess{i}@example.com")
                key = str(r.status_code)
            except Exception as exc:
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(guess(i) for i in range(guesses)))
    took = time.perf_counter() - started
    same_window = int(time.time() // WINDOW) == window
    async with _client(base, OWNER_ADDRESS) as client:
        r = await _lookup(client, number, owner)
        owner_status, owner_retry = r.status_code, r.headers.get("retry-after")
    later: dict[str, Any] = {}
    if wait_owner and owner_status == 429 and owner_retry:
        pause = int(owner_retry) + 1
        await asyncio.sleep(pause)
        async with _client(base, OWNER_ADDRESS + 1) as client:
            r = await _lookup(client, number, owner)
        later = {"owner_waited_s": pause, "owner_status_after_wait": r.status_code}
    return {
        "addresses": guesses,
        "seconds": took,
        "aligned_wait_s": waited,
        "one_window": same_window,
        "got_past": statuses.get("400", 0),
        "refused_429": statuses.get("429", 0),
        "statuses": statuses,
        "owner_status": owner_status,
        "owner_retry_after": owner_retry,
        **later,
    }


# --- orchestration ------------------------------------------------------------------------


def _sub_command(*extra: str) -> list[str]:
    return [sys.executable, __file__, *extra]


def sub(*extra: str) -> dict[str, Any]:
    out = subprocess.run(_sub_command(*extra), cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"load process failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def subs(*commands: tuple[str, ...]) -> list[dict[str, Any]]:
    """Several load processes at the same time."""
    procs = [
        subprocess.Popen(
            _sub_command(*c), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"load process failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--shoppers", type=int, default=32)
    parser.add_argument("--attacker-connections", type=int, default=16)
    parser.add_argument("--distributed", type=int, default=200, help="addresses, 1 guess each")
    parser.add_argument("--limit", type=int, default=10, help="lookups per minute (default 10)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--no-owner-wait", action="store_true", help="skip waiting out the owner's Retry-After"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--shoppers-load", nargs=5, metavar=("BASE", "S", "N", "ADDR", "ORDER"))
    parser.add_argument("--attacker-load", nargs=3, metavar=("BASE", "SECONDS", "CONNECTIONS"))
    parser.add_argument("--distributed-load", nargs=3, metavar=("BASE", "GUESSES", "WAIT"))
    args = parser.parse_args()
    if args.shoppers_load:
        base, seconds, shoppers, first_address, first_order = args.shoppers_load
        figures = _shoppers(
            base, float(seconds), int(shoppers), int(first_address), int(first_order)
        )
        print(json.dumps(asyncio.run(figures)))
        return
    if args.attacker_load:
        base, seconds, connections = args.attacker_load
        print(json.dumps(asyncio.run(_attacker(base, float(seconds), int(connections)))))
        return
    if args.distributed_load:
        base, guesses, wait = args.distributed_load
        print(json.dumps(asyncio.run(_distributed(base, int(guesses), wait == "1"))))
        return

    import redis

    from portal.db import migrate
    from portal.settings import async_database_url

    # e2e's stack, but with the default lookup limit rather than e2e's "unlimited".
    e2e_env = e2e_bench._env
    e2e_bench._env = lambda url: {
        **e2e_env(url),
        "PORTAL_LOOKUP_ATTEMPTS_PER_MINUTE": str(args.limit),
    }

    name = f"portal_lookup_{uuid.uuid4().hex[:8]}"
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    redis.Redis.from_url(REDIS_URL).flushdb()
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {"limit_per_minute": args.limit, "orders": ORDERS}
    try:
        migrate(async_database_url(url))
        asyncio.run(seed_store(url, ORDERS))
        port = _free_port()
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        procs.append(start([*serve, "--workers", str(args.web_workers)], url))
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        import httpx

        for _ in range(20):  # warm both web workers up (templates, pools); no lookups
            httpx.get(base + "/", timeout=30).raise_for_status()
        seconds, shoppers = str(args.seconds), str(args.shoppers)

        calm = sub("--shoppers-load", base, seconds, shoppers, "1", "1")
        used = calm["addresses_used"] + 1
        attack, busy = subs(
            ("--attacker-load", base, seconds, str(args.attacker_connections)),
            ("--shoppers-load", base, seconds, shoppers, str(used), str(used)),
        )
        spread = sub(
            "--distributed-load", base, str(args.distributed), "0" if args.no_owner_wait else "1"
        )
        figures |= {
            "shoppers": calm,
            "attack": attack,
            "shoppers_during_attack": busy,
            "distributed": spread,
            "load_average": os.getloadavg(),
        }

        print(
            f"order lookup, real stack ({args.web_workers} web workers, {ORDERS:,} orders, "
            f"limit {args.limit} lookups/min per address and per order number; "
            f"{args.seconds:.0f} s per phase):"
        )
        print(
            f"  {'':34} {'lookups/s':>9} {'POST p50':>10} {'POST p99':>10} "
            f"{'GET / p50':>10} {'errors':>6} {'wrongly 429':>11}"
        )
        for label, row in (
            (f"1. {args.shoppers} shoppers", calm),
            (f"2. {args.shoppers} shoppers during the attack", busy),
        ):
            print(
                f"  {label:34} {row['lookups_per_s']:9.1f} {_ms(row['post_p50_ms']):>10} "
                f"{_ms(row['post_p99_ms']):>10} {_ms(row['get_p50_ms']):>10} {row['errors']:6d} "
                f"{row['wrongly_refused_429']:11d}"
            )
        print(
            f"  2. attacker (1 address, {attack['connections']} connections): "
            f"{attack['attempts']:,} guesses ({attack['attempts_per_s']:,.0f}/s), "
            f"{attack['got_past']} got past the limiter (limit {args.limit} per window; the "
            f"attack spanned {attack['windows_spanned']} window(s)), "
            f"429 p50 {_ms(attack['refusal_p50_ms'])} p99 {_ms(attack['refusal_p99_ms'])}, "
            f"Retry-After {attack['retry_after_min']}..{attack['retry_after_max']} s, "
            f"errors {attack['errors']}"
        )
        ratio = (busy["post_p50_ms"] or 0) / (calm["post_p50_ms"] or 1)
        figures["shopper_p50_ratio_attack_vs_calm"] = ratio
        print(
            f"     shoppers' POST p50 during / before the attack: {ratio:.2f} "
            f"(p99 {_ms(busy['post_p99_ms'])} vs {_ms(calm['post_p99_ms'])})"
        )
        after = (
            f"; after waiting {spread['owner_waited_s']} s: {spread['owner_status_after_wait']}"
            if "owner_status_after_wait" in spread
            else ""
        )
        print(
            f"  3. distributed ({spread['addresses']} addresses x 1 guess at B{TARGET_ORDER}, "
            f"{'one window' if spread['one_window'] else 'crossed a window boundary'}): "
            f"{spread['got_past']} got past (limit {args.limit}), "
            f"{spread['refused_429']} refused; the owner's correct lookup from a fresh "
            f"address: {spread['owner_status']}"
            + (
                f" (Retry-After {spread['owner_retry_after']} s)"
                if spread["owner_retry_after"]
                else ""
            )
            + after
        )
        for row in (calm, busy, attack):
            if row["first_errors"]:
                print("  first errors:", row["first_errors"])
        print(f"  load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        for p in procs:
            stop(p)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
