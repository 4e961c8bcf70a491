"""The report's sections for the bare-insert ceiling, the mixed load and the scale-out check
(``bench/bare.py``, ``bench/mixed.py``, ``bench/scaleout.py``); ``bench/report.py`` places them.
Every function copes with a results file that lacks a phase (older recorded runs)."""

from statistics import median

TARGET_BARE_SHARE = 0.35


def invariants_hold(r: dict) -> bool:
    """The invariants of whichever of the three phases ran."""
    from bench import bare, mixed, scaleout

    ok = True
    if "bare" in r:
        ok &= bare.holds(r["bare"])
    if "mixed" in r:
        ok &= mixed.holds(r["mixed"])
    if "scaleout" in r:
        ok &= scaleout.holds(r["scaleout"])
    return bool(ok)


def _lat(summary: dict) -> str:
    return f"{summary['p50']:.1f} / {summary['p95']:.1f}"


def targets(r: dict) -> list[str]:
    """Rows for "Against the targets"."""
    from bench import mixed, scaleout

    rows = []
    if "bare" in r:
        b = r["bare"]
        rows.append(
            f"| booking API >= {TARGET_BARE_SHARE:.0%} of a bare insert into the same table on "
            f"the same stack | {b['ratio']:.1%} (median of {len(b['api'])} adjacent API and bare "
            f"rounds' ratios, same gunicorn; the medians {b['api_rate']:.1f}/s against "
            f"{b['bare_rate']:.1f}/s give {_of_medians(b):.1%}) "
            f"| {_met(b['ratio'] >= TARGET_BARE_SHARE)} |"
        )
    if "mixed" in r:
        m = r["mixed"]
        kinds = "; ".join(
            f"{kind} p95 {k['latency']['p95']:.0f} ms" for kind, k in m["kinds"].items()
        )
        rows.append(
            f"| mixed load, {m['clients']} clients: 0 errors, 0 double bookings, one winner per "
            f"collision | {m['errors']} errors, {_doubles(m['double_bookings'])} double "
            f"bookings, {m['collisions_one_winner']}/{m['collisions']} collisions with one "
            f"winner; {m['rate']:.0f} requests/s; {kinds} | {_met(mixed.holds(m))} |"
        )
    if "scaleout" in r:
        s = r["scaleout"]
        rows.append(
            "| scale-out, 2 web + 2 worker hosts: 0 double bookings, 1 winner, 0 duplicate and "
            f"0 lost e-mails | {_doubles(s['double_bookings'])} double bookings, "
            f"{_statuses(s['race']['statuses']).get('201', 0)} winner, "
            f"{s['reminders']['duplicates']} duplicate and {s['reminders']['lost']} lost "
            f"| {_met(scaleout.holds(s))} |"
        )
    return rows


def sections(r: dict) -> list[str]:
    return [*_bare(r), *_mixed(r), *_scaleout(r)]


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _doubles(counts: dict) -> int:
    return sum(counts.values())


def _statuses(statuses: dict) -> dict:
    return {str(k): v for k, v in statuses.items()}


def _of_medians(b: dict) -> float:
    """The ratio of the two kinds' median rates (the only ratio older results files hold)."""
    return b.get("ratio_of_medians", b["ratio"])


def _bare(r: dict) -> list[str]:
    b = r.get("bare")
    if not b:
        return []
    out = [
        "## Booking against its bare-insert ceiling",
        "",
        f"One gunicorn (2 sync workers, the project's settings and middleware; URLconf "
        f"`bench.bare_urls`) serves both. API: `POST /api/v1/public/bookings/`, a new person "
        f"into a free slot of the 50-provider location. Bare: a plain Django view inserting the "
        f"appointment row alone (an existing patient, one INSERT under the same exclusion "
        f"constraints, one commit). Rounds alternate API, bare; {b['clients']} clients; "
        "latency in ms; CPU per booking from `/proc`.",
        "",
        "| round | kind | bookings | 201 | other | bookings/s | API / bare | latency p50 / p99 "
        "| CPU per booking: API / DB ms | ledger / audit rows per booking |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, (api, bare) in enumerate(zip(b["api"], b["bare"], strict=True), 1):
        pair = f"{api['rate'] / bare['rate']:.1%}" if bare["rate"] else "-"
        for kind, row, share in (("API", api, pair), ("bare", bare, "")):
            st = _statuses(row["statuses"])
            out.append(
                f"| {n} | {kind} | {row['bookings']} | {st.get('201', 0)} | {row['errors']} "
                f"| {row['rate']:.1f} | {share} "
                f"| {row['latency']['p50']:.1f} / {row['latency']['p99']:.1f} "
                f"| {row['api_cpu_ms']:.1f} / {row['db_cpu_ms']:.1f} "
                f"| {row['ledger_rows_per_booking']:.1f} / {row['audit_rows_per_booking']:.1f} |"
            )
    api_cpu = median(x["api_cpu_ms"] + x["db_cpu_ms"] for x in b["api"])
    bare_cpu = median(x["api_cpu_ms"] + x["db_cpu_ms"] for x in b["bare"])
    out += [
        "",
        f"Ratio: **{b['ratio']:.1%}**, the median of the rounds' API / bare (each API round "
        f"against the bare round right after it, on the same machine state); the medians of "
        f"the two kinds, API {b['api_rate']:.1f}/s and bare {b['bare_rate']:.1f}/s, give "
        f"{_of_medians(b):.1%}. CPU per booking {api_cpu:.1f} ms against {bare_cpu:.1f} ms: "
        f"the stack's floor (HTTP, middleware, one insert and commit) is {bare_cpu:.1f} ms, the "
        f"booking rule and what it writes add {api_cpu - bare_cpu:.1f} ms. Double bookings in "
        f"SQL afterwards: {_doubles(b['double_bookings'])}.",
        "",
    ]
    return out


def _mixed(r: dict) -> list[str]:
    m = r.get("mixed")
    if not m:
        return []
    out = [
        "## Mixed load (one gunicorn, 2 sync workers)",
        "",
        f"{m['clients']} clients for {m['seconds']:.0f} s, each request drawn at random: 80% "
        "public availability (months and weeks at the 5-, 20- and 50-provider locations), 15% "
        "public bookings (a new person into a free slot of the 20-provider location; one slot in "
        "ten is booked twice, back to back, on purpose), 5% staff schedule (`GET "
        "/api/v1/schedule/`, a manager's day, token auth). Latency is the client's wait in ms.",
        "",
        "| kind | requests | statuses | p50 / p95 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for kind, k in m["kinds"].items():
        st = ", ".join(f"{code}: {n}" for code, n in sorted(_statuses(k["statuses"]).items()))
        lat = k["latency"]
        out.append(
            f"| {kind} | {k['count']} | {st} | {_lat(lat)} | {lat['p99']:.1f} | {lat['max']:.1f} |"
        )
    out += [
        "",
        f"- {m['requests']} requests, **{m['rate']:.1f}/s** on 2 cores; errors (5xx or an "
        f"unexpected status) **{m['errors']}**",
        f"- planned collisions: {m['collisions']}, each with one 201 and one 409 and one live row: "
        f"{m['collisions_one_winner']}; double bookings in SQL (provider / patient): "
        f"{m['double_bookings']['provider']} / {m['double_bookings']['patient']}",
    ]
    if "cpu_ms_per_request" in m:
        c = m["cpu_ms_per_request"]
        out.append(
            f"- CPU per request of the mix (`/proc`): gunicorn workers {c['api']:.1f} ms, "
            f"PostgreSQL {c['database']:.1f} ms"
        )
    if "rows_written" in m:
        w = m["rows_written"]
        out.append(
            f"- rows written during the run: appointments {w['appointments']} (their history "
            f"{w.get('events', 0)}), notification "
            f"ledger {w['ledger']}, audit log {w['audit']}"
        )
    out += [f"- failure: `{f}`" for f in m["failures"][:5]]
    return [*out, ""]


def _scaleout(r: dict) -> list[str]:
    s = r.get("scaleout")
    if not s:
        return []
    b, race, mail = s["booking"], s["race"], s["reminders"]
    st = _statuses(race["statuses"])
    cpu = ", ".join(f"{x:.1f} s" for x in mail["worker_cpu_seconds"])
    return [
        "## Scale-out: two web hosts and two worker hosts",
        "",
        "Two gunicorn instances (2 sync workers each, own ports and process groups) and two "
        "`celery worker` processes (own process groups and node names) sharing PostgreSQL and "
        "Redis. On one 2-core machine the four share the same cores: this checks correctness "
        "across hosts, not capacity.",
        "",
        f"- Booking: {b['bookings']} new people into distinct free slots from {b['clients']} "
        f"clients split across both instances (requests served: "
        f"{' and '.join(str(n) for n in b['per_host'])}): {b['rate']:.1f}/s, "
        f"p50 / p95 {_lat(b['latency'])} ms, errors {b['errors']}, rows created {b['created']}",
        f"- Race: {race['racers']} racers for one slot across both instances (served "
        f"{' and '.join(str(n) for n in race['per_host'])}): {st.get('201', 0)} x 201, "
        f"{st.get('409', 0)} x 409, winners in SQL {race['winners_in_sql']}, settled in "
        f"{race['seconds']:.2f} s",
        f"- Double bookings in SQL (provider / patient): {s['double_bookings']['provider']} / "
        f"{s['double_bookings']['patient']}",
        f"- Reminders: {mail['rows']} due, drained by {mail['workers']} at "
        f"{mail['rate']:.1f} e-mails/s; each worker's CPU {cpu}; received {mail['received']}, "
        f"duplicates **{mail['duplicates']}**, lost **{mail['lost']}**; ledger {mail['statuses']}",
        "",
    ]
