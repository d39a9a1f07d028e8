# Driver for api/python_test.go: submits to an ace-collector sink with
# ACE's ace_api.py (when ACE_API_PY names its directory) or with
# ace_api_compat.py, and prints one JSON line per call.
import datetime
import io
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
real = os.environ.get("ACE_API_PY")
if real:
    sys.path.insert(0, real)
    import ace_api
else:
    sys.path.insert(0, here)
    import ace_api_compat as ace_api

host = os.environ["ACE_HOST"]
ca = os.environ["ACE_CA"]
attachment = os.environ["ACE_FILE"]

print(json.dumps({"client": ace_api.__file__, "ping": ace_api.ping(remote_host=host, ssl_verification=ca)}))

aware = datetime.datetime(2022, 1, 2, 3, 4, 5, 678901,
                          tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
with open(attachment, "rb") as fp:
    result = ace_api.submit(
        "Python client: Grüße ✓",
        analysis_mode="correlation",
        tool="pytool",
        tool_instance="pyhost",
        type="pytype",
        company_id=3,
        event_time=aware,
        details={"k": "välue", "list": [1, 2]},
        observables=[
            {"type": "ipv4", "value": "192.0.2.7", "tags": ["t1"], "directives": ["no_scan"]},
            {"type": "fqdn", "value": "example.org", "time": "2022-01-02T08:00:00.000000+0000",
             "limited_analysis": ["m1"]},
        ],
        tags=["py", "tag2"],
        files=[("sub/dir/../evil.txt", fp), ("mem.bin", io.BytesIO(b"\x00\x01binary"))],
        queue="pyqueue",
        instructions="read me",
        remote_host=host,
        ssl_verification=ca,
    )
print(json.dumps({"submit": result}))

# Without files python-requests sends application/x-www-form-urlencoded.
result = ace_api.submit("no files", event_time="2022-01-02T03:04:05.000000+0000",
                        remote_host=host, ssl_verification=ca)
print(json.dumps({"submit": result}))
