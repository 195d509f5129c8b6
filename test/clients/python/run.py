"""Runs SQL through clickhouse-connect (the Python client Superset and
notebooks use) over HTTP. Reads {"host","port","user","password","queries"}
on stdin; writes one JSON result per query, values normalised for comparison
(times as epoch milliseconds)."""
import datetime
import decimal
import json
import math
import sys

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError


def normalise(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return round(v.timestamp() * 1000)
    if isinstance(v, datetime.date):
        return round(datetime.datetime(v.year, v.month, v.day, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [normalise(x) for x in v]
    if isinstance(v, dict):
        return {str(k): normalise(x) for k, x in v.items()}
    return v


def main():
    spec = json.load(sys.stdin)
    client = clickhouse_connect.get_client(
        host=spec["host"], port=spec["port"], username=spec.get("user") or "default", password=spec.get("password") or "",
        connect_timeout=30, send_receive_timeout=120,
    )
    out = {"version": client.server_version, "results": []}
    for q in spec["queries"]:
        try:
            result = client.query(q)
            out["results"].append({
                "columns": list(result.column_names),
                "types": [t.name for t in result.column_types],
                "rows": [[normalise(v) for v in row] for row in result.result_rows],
            })
        except DatabaseError as e:
            code = getattr(e, "code", None)
            out["results"].append({"error": str(e), "code": code})
    json.dump(out, sys.stdout)


main()
