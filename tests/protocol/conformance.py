#!/usr/bin/env python3
"""Corral protocol conformance client, written from docs/PROTOCOL.md alone.

Usage: conformance.py [PATH/TO/corral]

(a) Recomputes every worked example of docs/PROTOCOL.md (the ```corral-example
    blocks) with its own Ed25519 and fails on any difference.
(b) With the corral binary as argv[1]: starts `corral index DIR --demo` and
    `corral serve` on free loopback ports in a temp folder, enrols, leases,
    heartbeats, submits a result (twice), a batch, an artifact, returns a lease
    and reads the task page, checking every answer against the document.

Standard library only. Prints one line per check and `N passed, N failed`;
exits 0 only when every check passed.
"""
import base64
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile

# ---------------------------------------------------------------- Ed25519
# RFC 8032 section 5.1, written from the RFC's arithmetic: extended twisted
# Edwards coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _inv(x):
    return pow(x, P - 2, P)


def _recover_x(y, sign):
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    vx2 = (v * x * x) % P
    if vx2 == u % P:
        pass
    elif vx2 == (-u) % P:
        x = (x * SQRT_M1) % P
    else:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


_BY = (4 * _inv(5)) % P
_BX = _recover_x(_BY, 0)
BASE = (_BX, _BY, 1, (_BX * _BY) % P)
IDENTITY = (0, 1, 1, 0)


def _add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = ((y1 - x1) * (y2 - x2)) % P
    b = ((y1 + x1) * (y2 + x2)) % P
    c = (2 * t1 * t2 * D) % P
    d = (2 * z1 * z2) % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return ((e * f) % P, (g * h) % P, (f * g) % P, (e * h) % P)


def _mul(k, pt):
    acc = IDENTITY
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def _encode(pt):
    x, y, z, _ = pt
    zi = _inv(z)
    x, y = (x * zi) % P, (y * zi) % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decode(b):
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, (x * y) % P)


def _equal(p1, p2):
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _sha512_int(data):
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    a, _ = _expand(seed)
    return _encode(_mul(a, BASE))


def sign(seed, msg):
    a, prefix = _expand(seed)
    pub = _encode(_mul(a, BASE))
    r = _sha512_int(prefix + msg) % L
    rb = _encode(_mul(r, BASE))
    k = _sha512_int(rb + pub + msg) % L
    s = (r + k * a) % L
    return rb + int.to_bytes(s, 32, "little")


def verify(pub, msg, sig):
    if len(sig) != 64:
        return False
    a = _decode(pub)
    r = _decode(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    k = _sha512_int(sig[:32] + pub + msg) % L
    return _equal(_mul(s, BASE), _add(r, _mul(k, a)))


# ---------------------------------------------------------------- protocol
def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def b64(b):
    return base64.b64encode(b).decode("ascii")


def signing_input(method, path, date, nonce, body):
    return ("corral-v1\n%s\n%s\n%s\n%s\n%s" % (method, path, date, nonce, sha256_hex(body))).encode()


def enrolment_message(machine_key, account_name, machine_name):
    return ("corral-enrol-v1\n%s\n%s\n%s" % (machine_key, account_name, machine_name)).encode()


PAYLOAD_TYPE = "application/vnd.corral.result.v1+json"


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def dsse(seed, payload):
    return {"payloadType": PAYLOAD_TYPE, "payload": b64(payload),
            "signatures": [{"keyid": public_key(seed).hex(), "sig": b64(sign(seed, pae(PAYLOAD_TYPE, payload)))}]}


def is_record_file(path):
    parts = path.split("/")
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in ("RECORD", "RECORD.jws", "RECORD.p7s")


def content_digest_lines(files):
    """files: {path: bytes}. The lines the content digest hashes."""
    pairs = sorted((p.encode(), sha256_hex(c)) for p, c in files.items() if not p.endswith("/") and not is_record_file(p))
    return b"".join(p + b"\t" + h.encode() + b"\n" for p, h in pairs)


def content_digest_of_zip(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return sha256_hex(content_digest_lines({i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}))


def key_file(seed):
    return b"corral-ed25519-secret-v1\n" + seed.hex().encode() + b"\n"


# ---------------------------------------------------------------- checks
RESULTS = []
DOC = {}  # the parsed worked examples, for the live run


def check(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok or not detail else ": " + str(detail)[:300]), flush=True)
    return ok


def finish():
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


# ---------------------------------------------------------------- (a) the document
def parse_examples(text):
    """```corral-example NAME blocks of `key: value` lines; ```corral-bytes NAME
    blocks whose exact text (newline-joined, no final newline) is the value."""
    fields, blocks = {}, {}
    for m in re.finditer(r"^```corral-(example|bytes) (\S+)\n(.*?)\n```$", text, re.S | re.M):
        kind, name, body = m.groups()
        if kind == "bytes":
            blocks[name] = body.encode()
            continue
        d = fields.setdefault(name, {})
        for line in body.split("\n"):
            k, _, v = line.partition(": ")
            d[k] = v
    return fields, blocks


def check_document(doc_path):
    with open(doc_path, encoding="utf-8") as f:
        text = f.read()
    ex, raw = parse_examples(text)
    DOC.update(ex=ex, raw=raw)
    # RFC 8032 test 1, so our Ed25519 is known right before it judges the doc.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    check("ed25519: RFC 8032 test 1 public key", public_key(seed).hex() ==
          "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    check("ed25519: RFC 8032 test 1 signature", sign(seed, b"").hex() ==
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    need = ["keys", "request", "enrolment", "dsse", "digest"]
    if not check("doc: worked examples present (%s)" % ", ".join(need), all(n in ex for n in need), sorted(ex)):
        return
    k = ex["keys"]
    acc_seed, mach_seed = bytes.fromhex(k["account_seed"]), bytes.fromhex(k["machine_seed"])
    check("doc keys: account public key", public_key(acc_seed).hex() == k["account_public"], public_key(acc_seed).hex())
    check("doc keys: machine public key", public_key(mach_seed).hex() == k["machine_public"], public_key(mach_seed).hex())
    check("doc keys: account key file", raw.get("keyfile", b"") + b"\n" == key_file(acc_seed), raw.get("keyfile"))

    r = ex["request"]
    body = r["body"].encode()
    si = signing_input(r["method"], r["path"], r["date"], r["nonce"], body)
    check("doc request: body sha256", sha256_hex(body) == r["body_sha256"], sha256_hex(body))
    check("doc request: signing input", raw.get("request-signing-input") == si, si)
    sig = b64(sign(mach_seed, si))
    check("doc request: Corral-Signature", sig == r["Corral-Signature"], sig)
    check("doc request: Corral-Key", r["Corral-Key"] == k["machine_public"])
    check("doc request: signature verifies", verify(bytes.fromhex(r["Corral-Key"]), si, base64.b64decode(r["Corral-Signature"])))

    e = ex["enrolment"]
    msg = enrolment_message(k["machine_public"], e["account_name"], e["machine_name"])
    check("doc enrolment: account-signed message", raw.get("enrolment-message") == msg, msg)
    asig = b64(sign(acc_seed, msg))
    check("doc enrolment: account_signature", asig == e["account_signature"], asig)
    eb = json.loads(e["body"])
    check("doc enrolment: body fields", eb.get("account_key") == k["account_public"] and eb.get("machine_key") == k["machine_public"]
          and eb.get("account_name") == e["account_name"] and eb.get("machine_name") == e["machine_name"]
          and eb.get("account_signature") == asig, eb)
    esi = signing_input("POST", "/api/v1/volunteers", e["date"], e["nonce"], e["body"].encode())
    check("doc enrolment: request Corral-Signature", b64(sign(mach_seed, esi)) == e["Corral-Signature"], b64(sign(mach_seed, esi)))

    d = ex["dsse"]
    payload = d["payload_json"].encode()
    p = pae(PAYLOAD_TYPE, payload)
    check("doc dsse: payloadType", d["payloadType"] == PAYLOAD_TYPE)
    check("doc dsse: PAE", raw.get("dsse-pae") == p, p)
    env = dsse(mach_seed, payload)
    check("doc dsse: payload base64", env["payload"] == d["payload"], env["payload"])
    check("doc dsse: sig", env["signatures"][0]["sig"] == d["sig"], env["signatures"][0]["sig"])
    check("doc dsse: envelope", json.loads(raw.get("dsse-envelope", b"{}")) == env, env)
    try:
        pj = json.loads(payload)
        shape_errors = result_payload_errors(pj)
    except ValueError as exc:
        shape_errors = [str(exc)]
    check("doc dsse: payload has the documented shape", not shape_errors, shape_errors)

    g = ex["digest"]
    files = {}
    for key, val in g.items():
        if key.startswith("file "):
            files[key[5:]] = val.encode().decode("unicode_escape").encode("latin-1")
    lines = content_digest_lines(files)
    check("doc digest: hashed lines", raw.get("digest-lines", b"") + b"\n" == lines, lines)
    check("doc digest: content digest", sha256_hex(lines) == g["content_digest"], sha256_hex(lines))
    # The same files zipped twice with other timestamps and order give the same digest.
    zips = []
    for stamp, order in (((2020, 1, 1, 0, 0, 0), sorted(files)), ((1999, 12, 31, 23, 59, 58), sorted(files, reverse=True))):
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w") as z:
            for name in order:
                z.writestr(zipfile.ZipInfo(name, stamp), files[name])
        zips.append(bio.getvalue())
    check("doc digest: independent of zip timestamps and order",
          zips[0] != zips[1] and content_digest_of_zip(zips[0]) == content_digest_of_zip(zips[1]) == g["content_digest"])


# ---------------------------------------------------------------- shapes from the doc
def is_hex(s, n):
    return isinstance(s, str) and len(s) == n and all(c in "0123456789abcdef" for c in s)


def field_errors(obj, spec, what):
    """spec: {field: (types, required)}"""
    errs = []
    if not isinstance(obj, dict):
        return ["%s is not an object" % what]
    for f, (types, required) in spec.items():
        if f not in obj or obj[f] is None:
            if required:
                errs.append("%s: missing %s" % (what, f))
            continue
        if not isinstance(obj[f], types) or (int in (types if isinstance(types, tuple) else (types,)) and isinstance(obj[f], bool)):
            errs.append("%s: %s is %s" % (what, f, type(obj[f]).__name__))
    return errs


TASKSPEC = {"task_id": (str, True), "lease_id": (str, True), "project": (str, True), "version": (str, True),
            "filename": (str, True), "url": (str, True), "sha256": (str, True), "size": (int, False),
            "platform": (str, True), "requires_python": (str, False), "lease_deadline": (int, False),
            "min_isolation": (str, False), "index_url": (str, False)}
OUTCOMES = {"passed", "tests_failed", "no_tests", "import_failed", "install_failed",
            "build_failed", "unsupported", "timeout", "resource_exhausted", "infra_error"}


def result_payload_errors(p):
    errs = field_errors(p, {"task_id": (str, True), "lease_id": (str, True), "volunteer_id": (str, True),
                            "input_sha256": (str, True), "platform": (dict, True), "outcome": (str, True),
                            "summary": (str, False), "durations": (dict, False), "wheel": (dict, False),
                            "tests": (dict, False), "failing_tests": (list, False), "log_sha256": (str, False),
                            "commands": (list, False), "environment": (dict, False), "isolation": (str, False),
                            "client_version": (str, False), "finished_at": (int, False)}, "result payload")
    if p.get("outcome") not in OUTCOMES:
        errs.append("unknown outcome %r" % p.get("outcome"))
    return errs


def error_errors(status, body, want_status, want_code):
    errs = field_errors(body, {"error": (str, True), "detail": (str, True)}, "error body")
    if status != want_status or (isinstance(body, dict) and body.get("error") != want_code):
        errs.append("got HTTP %s %s, want %s %s" % (status, body, want_status, want_code))
    return errs


# ---------------------------------------------------------------- (b) the binary
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    def __init__(self, base, seed):
        self.base, self.seed = base, seed
        self.key = public_key(seed).hex()

    def raw(self, method, path, body=b"", headers=None):
        req = urllib.request.Request(self.base + path, data=body if method != "GET" else None, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data

    def headers(self, method, path, body, date=None, nonce=None, seed=None):
        date = str(int(time.time()) if date is None else date)
        nonce = nonce or os.urandom(16).hex()
        sig = sign(seed or self.seed, signing_input(method, path, date, nonce, body))
        return {"Corral-Key": public_key(seed or self.seed).hex(), "Corral-Date": date, "Corral-Nonce": nonce,
                "Corral-Signature": b64(sig), "Content-Type": "application/json"}

    def signed(self, method, path, obj_or_bytes, **kw):
        body = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
        return self.raw(method, path, body, self.headers(method, path, body, **kw))


def wait_http(url, deadline, proc):
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError as e:
            if e.code != 503:  # 503 "starting": listening, not yet serving
                return True
            time.sleep(0.2)
        except OSError:
            time.sleep(0.2)
    return False


def run_live(binary):
    start = time.time()
    tmp = tempfile.mkdtemp(prefix="corral-conformance-")
    procs = []
    try:
        ip, cp = free_port(), free_port()
        logs = [open(os.path.join(tmp, n), "wb") for n in ("index.log", "serve.log")]
        procs.append(subprocess.Popen([binary, "index", os.path.join(tmp, "index"), "--demo",
                                       "--listen", "127.0.0.1:%d" % ip], stdout=logs[0], stderr=subprocess.STDOUT,
                                      start_new_session=True))
        if not check("live: demo index answers", wait_http("http://127.0.0.1:%d/simple/" % ip, time.time() + 30, procs[0])):
            return
        platform = "cp311-linux_x86_64"
        procs.append(subprocess.Popen([binary, "serve", "--data", os.path.join(tmp, "coord"), "--listen",
                                       "127.0.0.1:%d" % cp, "--index", "http://127.0.0.1:%d/simple/" % ip,
                                       "--one-network", "--platforms", platform, "--sync-interval", "2"],
                                      stdout=logs[1], stderr=subprocess.STDOUT, start_new_session=True))
        base = "http://127.0.0.1:%d" % cp
        if not check("live: coordinator answers", wait_http(base + "/api/v1/projects", time.time() + 20, procs[1])):
            return
        run_flow(base, platform, start)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if RESULTS and not all(RESULTS):
            for n in ("index.log", "serve.log"):
                try:
                    with open(os.path.join(tmp, n), "rb") as f:
                        tail = f.read()[-1500:].decode("utf-8", "replace")
                    print("--- tail of %s ---\n%s" % (n, tail))
                except OSError:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)


def run_flow(base, platform, start):
    account_seed, machine_seed = os.urandom(32), os.urandom(32)
    other_seed = os.urandom(32)
    c = Client(base, machine_seed)
    account_key = public_key(account_seed).hex()

    st, b = c.raw("POST", "/api/v1/lease", b'{"platforms":[]}', {"Content-Type": "application/json"})
    check("live: unsigned request -> 401 missing_signature", not error_errors(st, b, 401, "missing_signature"), (st, b))
    st, b = c.signed("POST", "/api/v1/lease", {"platforms": [platform], "slots": 1})
    check("live: lease before enrolment -> 401 unknown_volunteer", not error_errors(st, b, 401, "unknown_volunteer"), (st, b))

    def enrol_body(acc_seed, name="conformance", machine="conformance-machine"):
        return {"account_key": public_key(acc_seed).hex(), "account_name": name, "machine_key": c.key,
                "machine_name": machine, "account_signature": b64(sign(acc_seed, enrolment_message(c.key, name, machine))),
                "platforms": [platform]}

    bad = enrol_body(account_seed)
    bad["account_signature"] = b64(sign(other_seed, enrolment_message(c.key, "conformance", "conformance-machine")))
    st, b = c.signed("POST", "/api/v1/volunteers", bad)
    check("live: enrolment with a wrong account signature -> 401 bad_signature", not error_errors(st, b, 401, "bad_signature"), (st, b))
    st, b = c.signed("POST", "/api/v1/volunteers", enrol_body(account_seed), seed=other_seed)
    check("live: enrolment signed by another key -> 403 key_mismatch", not error_errors(st, b, 403, "key_mismatch"), (st, b))
    st, b = c.signed("POST", "/api/v1/volunteers", enrol_body(account_seed))
    check("live: enrol -> 200 {volunteer_id, account}", st == 200 and b == {"volunteer_id": c.key, "account": account_key}, (st, b))
    st, b = c.signed("POST", "/api/v1/volunteers", enrol_body(other_seed))
    check("live: same machine under another account -> 409 already_enrolled", not error_errors(st, b, 409, "already_enrolled"), (st, b))

    # Signature failures.
    body = json.dumps({"lease_ids": []}).encode()
    h = c.headers("POST", "/api/v1/heartbeat", body)
    st1, b1 = c.raw("POST", "/api/v1/heartbeat", body, h)
    st2, b2 = c.raw("POST", "/api/v1/heartbeat", body, h)
    check("live: heartbeat with no leases -> 200 {extended: {}, cancelled: []}", st1 == 200 and b1 == {"extended": {}, "cancelled": []}, (st1, b1))
    check("live: replayed nonce -> 401 replayed_nonce", not error_errors(st2, b2, 401, "replayed_nonce"), (st2, b2))
    st, b = c.signed("POST", "/api/v1/heartbeat", body, date=int(time.time()) - 3600)
    check("live: date an hour off -> 401 stale_date", not error_errors(st, b, 401, "stale_date"), (st, b))
    h = c.headers("POST", "/api/v1/heartbeat", body)
    st, b = c.raw("POST", "/api/v1/heartbeat", b'{"lease_ids":[ ]}', h)
    check("live: body altered after signing -> 401 bad_signature", not error_errors(st, b, 401, "bad_signature"), (st, b))
    st, b = c.signed("POST", "/api/v1/lease", {"slots": 1})
    check("live: lease without platforms -> 422 bad_payload", not error_errors(st, b, 422, "bad_payload"), (st, b))
    st, b = c.signed("POST", "/api/v1/lease", {"platforms": [platform], "slots": 257})
    check("live: lease with slots 257 -> 422 bad_payload", not error_errors(st, b, 422, "bad_payload"), (st, b))

    # Lease until the first index sync made tasks.
    tasks, polls = [], []
    deadline = time.time() + 30
    while time.time() < deadline:
        st, b = c.signed("POST", "/api/v1/lease", {"platforms": [platform], "slots": 2})
        if st != 200:
            break
        polls.append(b.get("next_poll_s"))
        tasks = b.get("tasks") or []
        if tasks:
            break
        time.sleep(1)
    errs = field_errors(b, {"tasks": (list, True), "next_poll_s": (int, True)}, "lease answer") if st == 200 else [(st, b)]
    check("live: lease -> 200 {tasks: [...], next_poll_s: int}", not errs and tasks, errs or "no task within 30 s")
    if not tasks:
        return
    terrs = [e for t in tasks for e in field_errors(t, TASKSPEC, "task")]
    terrs += ["bad sha256 %r" % t["sha256"] for t in tasks if not is_hex(t.get("sha256"), 64)]
    terrs += ["platform %r" % t["platform"] for t in tasks if t.get("platform") != platform]
    check("live: every task has the documented TaskSpec shape", not terrs, terrs)
    check("live: next_poll_s is a positive integer", all(isinstance(x, int) and x > 0 for x in polls), polls)
    t0 = tasks[0]
    st, b = c.signed("POST", "/api/v1/heartbeat", {"lease_ids": [t["lease_id"] for t in tasks]})
    check("live: heartbeat -> 200 extended every lease with a unix deadline",
          st == 200 and set(b.get("extended", {})) == {t["lease_id"] for t in tasks}
          and all(isinstance(v, int) and v >= int(time.time()) for v in b["extended"].values())
          and b.get("cancelled") == [], (st, b))

    # An artifact (the log) first, then the result naming it.
    log = b"conformance log: nothing ran\n"
    log_sha = sha256_hex(log)
    st, b = c.signed("PUT", "/api/v1/artifacts/" + log_sha, log)
    check("live: PUT artifact without ?lease= -> 422 bad_payload", not error_errors(st, b, 422, "bad_payload"), (st, b))
    st, b = c.signed("PUT", "/api/v1/artifacts/" + log_sha + "?lease=" + "0" * 32, log)
    check("live: PUT artifact for a lease that is not the volunteer's -> 409 not_leased", not error_errors(st, b, 409, "not_leased"), (st, b))
    st, b = c.signed("PUT", "/api/v1/artifacts/" + log_sha + "?lease=" + t0["lease_id"], log)
    check("live: PUT artifact -> 200 {stored, sha256, size}", st == 200 and b == {"stored": True, "sha256": log_sha, "size": len(log)}, (st, b))
    st, b = c.signed("PUT", "/api/v1/artifacts/" + sha256_hex(b"other") + "?lease=" + t0["lease_id"], log)
    check("live: PUT artifact under the wrong sha256 -> 422 wrong_input", not error_errors(st, b, 422, "wrong_input"), (st, b))
    st, b = c.raw("GET", "/api/v1/artifacts/" + log_sha)
    check("live: GET artifact returns its bytes", st == 200 and b == log, (st, b))

    def payload(task, outcome="build_failed", input_sha=None):
        return {"task_id": task["task_id"], "lease_id": task["lease_id"], "volunteer_id": c.key,
                "input_sha256": input_sha or task["sha256"],
                "platform": {"implementation": "cpython", "python_version": "3.11.7",
                             "interpreter_build": "3.11.7 (main) [GCC 12.2.0]", "interpreter_path": "/usr/bin/python3.11",
                             "os": "linux", "arch": "x86_64", "libc": "glibc 2.36", "kernel": "6.1.0", "has_headers": True},
                "outcome": outcome, "summary": "conformance test: made-up result",
                "durations": {"build_s": 1.5, "test_s": 0.0, "total_s": 2.0},
                "wheel": {"filename": "", "sha256": "", "content_digest": ""},
                "tests": {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}, "failing_tests": [],
                "log_sha256": log_sha, "commands": ["python -m build --wheel"], "environment": {"PATH": "/usr/bin"},
                "isolation": "", "client_version": "conformance/1", "finished_at": int(time.time())}

    p0 = json.dumps(payload(t0), separators=(",", ":")).encode()
    env = dsse(machine_seed, p0)
    st, b = c.signed("POST", "/api/v1/results", env, seed=other_seed)
    check("live: result from an unknown key -> 401 unknown_volunteer", not error_errors(st, b, 401, "unknown_volunteer"), (st, b))
    forged = dict(env, payload=b64(json.dumps(payload(t0, "passed")).encode()))
    st, b = c.signed("POST", "/api/v1/results", forged)
    check("live: result whose payload was altered -> 401 bad_signature", not error_errors(st, b, 401, "bad_signature"), (st, b))
    wrong = dsse(machine_seed, json.dumps(payload(t0, input_sha="0" * 64)).encode())
    st, b = c.signed("POST", "/api/v1/results", wrong)
    check("live: result for another input -> 422 wrong_input", not error_errors(st, b, 422, "wrong_input"), (st, b))
    st, b = c.signed("POST", "/api/v1/results", env)
    check("live: result -> 200 {accepted: true, duplicate: false}", st == 200 and b == {"accepted": True, "duplicate": False}, (st, b))
    st, b = c.signed("POST", "/api/v1/results", env)
    check("live: same result again -> 200 {accepted: true, duplicate: true}", st == 200 and b == {"accepted": True, "duplicate": True}, (st, b))
    st, b = c.signed("POST", "/api/v1/results/batch", {"results": [env, {"payloadType": PAYLOAD_TYPE}]})
    items = b.get("results") if isinstance(b, dict) else None
    check("live: batch -> 200, one item per envelope, in order",
          st == 200 and isinstance(items, list) and len(items) == 2
          and items[0] == {"task_id": t0["task_id"], "lease_id": t0["lease_id"], "status": "duplicate"}
          and items[1].get("status") == "refused" and items[1].get("error") == "bad_payload"
          and isinstance(items[1].get("detail"), str), (st, b))
    st, b = c.signed("POST", "/api/v1/results/batch", {"results": []})
    check("live: empty batch -> 422 bad_payload", not error_errors(st, b, 422, "bad_payload"), (st, b))

    if len(tasks) > 1:
        t1 = tasks[1]
        st, b = c.signed("POST", "/api/v1/leases/return", {"lease_ids": [t1["lease_id"], "no-such-lease"]})
        check("live: lease return -> 200 {returned: [it], unknown: [the other]}",
              st == 200 and b == {"returned": [t1["lease_id"]], "unknown": ["no-such-lease"]}, (st, b))
        st, b = c.signed("POST", "/api/v1/results", dsse(machine_seed, json.dumps(payload(t1)).encode()))
        check("live: result for a returned lease -> 409 lease_returned", not error_errors(st, b, 409, "lease_returned"), (st, b))
        st, b = c.signed("POST", "/api/v1/heartbeat", {"lease_ids": [t1["lease_id"], "no-such-lease"]})
        check("live: heartbeat of a returned and an unknown lease -> both cancelled",
              st == 200 and b == {"extended": {}, "cancelled": [t1["lease_id"], "no-such-lease"]}, (st, b))
    else:
        st, b = c.signed("POST", "/api/v1/leases/return", {"lease_ids": ["no-such-lease"]})
        check("live: lease return of an unknown lease -> 200 {returned: [], unknown: [it]}",
              st == 200 and b == {"returned": [], "unknown": ["no-such-lease"]}, (st, b))

    doc_examples_live(base)

    st, b = c.raw("GET", "/api/v1/tasks/" + t0["task_id"], headers={"Accept": "application/json"})
    results = b.get("results") if isinstance(b, dict) else None
    mine = [r for r in results or [] if r.get("volunteer_id") == c.key]
    check("live: task page lists the stored result", st == 200 and len(mine) == 1, (st, b))
    st, b = c.raw("GET", "/api/v1/tasks/no-such-task")
    check("live: unknown task -> 404 unknown_task", not error_errors(st, b, 404, "unknown_task"), (st, b))
    check("live: run took under 60 s", time.time() - start < 60, "%.1f s" % (time.time() - start))


def doc_examples_live(base):
    """The document's enrolment body and result envelope, sent as they are
    (in freshly signed requests), so that libsodium judges its signatures."""
    ex, raw = DOC.get("ex", {}), DOC.get("raw", {})
    if "keys" not in ex or "enrolment" not in ex or "dsse-envelope" not in raw:
        check("live: the document's examples are available", False, "section (a) found none")
        return
    doc_client = Client(base, bytes.fromhex(ex["keys"]["machine_seed"]))
    st, b = doc_client.signed("POST", "/api/v1/volunteers", ex["enrolment"]["body"].encode())
    check("live: the doc's enrolment body (14.3) is accepted",
          st == 200 and b == {"volunteer_id": ex["keys"]["machine_public"], "account": ex["keys"]["account_public"]}, (st, b))
    # Its signature verifies, so the coordinator gets as far as the lease: L1 is not one.
    st, b = doc_client.signed("POST", "/api/v1/results", raw["dsse-envelope"])
    check("live: the doc's envelope (14.4) verifies; refused only as 409 not_leased",
          not error_errors(st, b, 409, "not_leased"), (st, b))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    doc = os.path.join(here, "..", "..", "docs", "PROTOCOL.md")
    check_document(doc)
    if len(sys.argv) > 1:
        binary = os.path.abspath(sys.argv[1])
        if check("live: binary %s is executable" % sys.argv[1], os.access(binary, os.X_OK)):
            run_live(binary)
    finish()


if __name__ == "__main__":
    main()
