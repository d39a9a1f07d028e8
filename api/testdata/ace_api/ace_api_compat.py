# ace_api_compat.py - a stand-in for ACE's ace_api.py client (ace-ecosystem/ACE,
# Apache-2.0) used by ace-collector's compatibility test.
#
# Written for ace-collector; it copies no ACE code. It reproduces the HTTP
# behaviour of ace_api.py's ping() and submit() at ACE HEAD as documented in
# /work/shared/reference/ace.md sections 1.2, 1.6 and 2:
#   * URL https://<remote_host>/api/<command>, python-requests, no retries;
#   * verify=False unless ssl_verification is given (ace_api's HEAD default);
#   * submit(): the JSON document in form field "analysis" built by
#     json.dumps with ace_api's key order, files as ("file", (name, fp))
#     parts, so requests sends multipart/form-data with files and
#     application/x-www-form-urlencoded without;
#   * event_time: aware datetimes converted to UTC and formatted
#     %Y-%m-%dT%H:%M:%S.%f%z, strings passed through unchanged; naive
#     datetimes are localised (ace_api before PR #152; HEAD crashes on them);
#   * observables restricted to ace_api's six keys, datetime times converted
#     the same way;
#   * raise_for_status() on 4xx/5xx, returns response.json().
#
# Set ACE_API_PY to a directory holding the real ace_api.py to run the test
# against ACE's own client instead.

import datetime
import json
import socket

import requests
import tzlocal

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
OBSERVABLE_KEYS = ("type", "value", "time", "tags", "directives", "limited_analysis")


def _call(command, method="get", remote_host="localhost", ssl_verification=None,
          disable_ssl_verification=False, data=None, files=None, timeout=None):
    verify = False if ssl_verification is None else ssl_verification
    if disable_ssl_verification:
        verify = False
    func = requests.post if method == "post" else requests.get
    kwargs = {"verify": verify, "stream": False}
    if data is not None:
        kwargs["data"] = data
    if files is not None:
        kwargs["files"] = files
    if timeout is not None:
        kwargs["timeout"] = timeout
    r = func("https://{}/api/{}".format(remote_host, command), **kwargs)
    r.raise_for_status()
    return r


def ping(**kwargs):
    return _call("common/ping", **kwargs).json()


def _format_time(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tzlocal.get_localzone())
        return value.astimezone(datetime.timezone.utc).strftime(DATETIME_FORMAT)
    return value


def submit(description, analysis_mode="analysis", tool="ace_api",
           tool_instance="ace_api:{}".format(socket.getfqdn()), type="generic",
           company_id=None, event_time=None, details=None, observables=None,
           tags=None, files=None, queue="default", instructions=None, **kwargs):
    assert description
    details = {} if details is None else details
    observables = [] if observables is None else observables
    tags = [] if tags is None else tags
    files = [] if files is None else files
    if event_time is None:
        event_time = datetime.datetime.now(datetime.timezone.utc)
    for o in observables:
        assert isinstance(o, dict) and "type" in o and "value" in o
        for key in o:
            assert key in OBSERVABLE_KEYS, "unknown observable property {}".format(key)
        if "time" in o:
            o["time"] = _format_time(o["time"])
    for t in tags:
        assert isinstance(t, str)
    file_params = []
    for name, fp in files:
        assert isinstance(name, str) and fp
        file_params.append(("file", (name, fp)))
    document = json.dumps({
        "analysis_mode": analysis_mode,
        "tool": tool,
        "tool_instance": tool_instance,
        "type": type,
        "company_id": company_id,
        "description": description,
        "event_time": _format_time(event_time),
        "details": details,
        "observables": observables,
        "tags": tags,
        "queue": queue,
        "instructions": instructions,
    })
    return _call("analysis/submit", method="post", data={"analysis": document},
                 files=file_params, **kwargs).json()
