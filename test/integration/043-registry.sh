#!/bin/sh
# SPDX-License-Identifier: MIT
# Snapshots through a real OCI registry (Debian's docker-registry, started
# here on 127.0.0.1 with its own config and storage under $T): push, a
# second push that uploads only new blobs (counted in the registry's
# storage), a push to a second repository that mounts every blob instead of
# uploading it, tags, a pull on a second daemon (another host) that fetches
# only what it lacks, restore there and the clone counts on; a corrupted
# blob in the registry is refused and nothing is registered; the registry
# stopped in the middle of a pull leaves nothing behind and a retry
# finishes; search lists the repositories (page by page) and their tags; a
# registry with htpasswd auth refuses a push without
# credentials with a clear error and takes one with an auth.json; so does
# one with token auth (Bearer: a token server here in python3, its JWTs
# signed by openssl), which serves a push and a pull with its tokens, each
# longer than a token lives (a few seconds), so that the daemon fetches new
# ones as the old expire; a registry that refuses the tokens it grants
# ends a push with a clear error, not a loop;
# skopeo inspects the artifact and copies it to the second registry, and
# the copy restores in one call (restore REF).  An export stream restores
# (restore URL) and a delta imports straight from a web server (python3 -m
# http.server).  One 64 MiB guest.
TEST_NAME=registry
. "$(dirname "$0")/lib.sh"

H="$T/host2"
ctlb() { "$SBUMLCTL" --socket "$H/s.sock" "$@"; }
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
blob_count() { find "$1/data" -path '*/blobs/sha256/*' -name data -type f | wc -l; }
blob_files() { find "$1/data" -path '*/blobs/sha256/*' -name data -type f | sort; }

# start_registry DIR PORT [AUTH]: docker-registry on 127.0.0.1:PORT,
# storage in DIR/data, AUTH a file with the config's auth: section;
# REG_PID its pid.
start_registry() {
	mkdir -p "$1/data"
	cat >"$1/config.yml" <<-CFG
	version: 0.1
	log:
	  level: info
	  accesslog:
	    disabled: false
	storage:
	  filesystem:
	    rootdirectory: $1/data
	http:
	  addr: 127.0.0.1:$2
	CFG
	[ -z "${3:-}" ] || cat "$3" >>"$1/config.yml"
	docker-registry serve "$1/config.yml" >>"$1/log" 2>&1 &
	REG_PID=$!
	OTHER_PIDS="$OTHER_PIDS $REG_PID"
	wait_until 30 sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$2/v2/ | grep -Eq '200|401'" ||
		fail "the registry in $1 did not come up: $(tail -5 "$1/log")"
}
stop_registry() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }
no_snapshot_b() { [ ! -e "$H/state/snapshots/$1" ] || fail "$2 left snapshot $1 behind"; }

R1="$T/reg1"; P1=$(free_port)
start_registry "$R1" "$P1"
REG1_PID=$REG_PID
REF="127.0.0.1:$P1/demo/busybox"

start_daemon
ctl boot a --mem 64 >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least a 3 || fail "no heartbeat"
ctl save a s1 >/dev/null 2>&1 || fail "save s1"
h1=$(heartbeat a)
wait_until 30 heartbeat_at_least a $((h1 + 2)) || fail "no heartbeat after s1"
ctl save a s2 >/dev/null 2>&1 || fail "save s2"
at=$(heartbeat a)

# A clear error for a registry that is not there, and for a bad reference.
! ctl push s1 "127.0.0.1:$(free_port)/demo/x:v1" --insecure 2>"$T/err" || fail "push to nothing"
grep -q "cannot connect" "$T/err" || fail "push to nothing: $(cat "$T/err")"
! ctl push s1 "demo/x:v1" 2>"$T/err" || fail "push to a reference without a host"
grep -q "not a registry host" "$T/err" || fail "ref without host: $(cat "$T/err")"
! ctl push s1 "$REF:v1" 2>"$T/err" || fail "push over https to a plain http registry"
grep -qi "https\|TLS\|SSL" "$T/err" || fail "https to http: $(cat "$T/err")"

# Push s1, then again (nothing moves), then s2 (only its new blobs move).
ctl --json push s1 "$REF:v1" --insecure >"$T/p1.json" || fail "push s1"
n1=$(blob_count "$R1")
total1=$(jget "$T/p1.json" 'j["blobs"]')
[ "$(jget "$T/p1.json" 'j["uploaded_blobs"]')" -eq "$total1" ] || fail "first push: $(cat "$T/p1.json")"
# The registry keeps the image manifest as a blob too.
[ "$n1" -eq $((total1 + 1)) ] || fail "the registry holds $n1 blobs after a push of $total1 and a manifest"
ctl --json push s1 "$REF:v1" --insecure >"$T/p1b.json" || fail "push s1 again"
[ "$(jget "$T/p1b.json" 'j["uploaded_blobs"]')" -eq 0 ] || fail "a repeated push uploaded: $(cat "$T/p1b.json")"
ctl --json push s2 "$REF:v2" --insecure >"$T/p2.json" || fail "push s2"
up2=$(jget "$T/p2.json" 'j["uploaded_blobs"]'); total2=$(jget "$T/p2.json" 'j["blobs"]')
n2=$(blob_count "$R1")
[ $((n2 - n1)) -eq $((up2 + 1)) ] || fail "the second push added $((n2 - n1)) blob files but says it uploaded $up2"
[ "$up2" -lt $((total2 / 2)) ] || fail "the second push uploaded $up2 of $total2 blobs"
say "push s1: $total1 blobs; push s2: $up2 of $total2 blobs uploaded ($(jget "$T/p2.json" 'j["bytes"]') bytes)"
# A push to another repository of the registry mounts the blobs from the
# one this daemon pushed to last (POST ...?mount=&from=): no blob is uploaded.
ctl --json push s2 "127.0.0.1:$P1/demo/mounted:v2" --insecure >"$T/pm.json" || fail "push s2 to a second repository"
[ "$(jget "$T/pm.json" 'j["uploaded_blobs"]')" -eq 0 ] &&
[ "$(jget "$T/pm.json" 'j["mounted_blobs"]')" -eq "$total2" ] &&
[ "$(jget "$T/pm.json" 'j["mounted_from"]')" = demo/busybox ] || fail "push to a second repository: $(cat "$T/pm.json")"
mounts=$(grep -c 'POST /v2/demo/mounted/blobs/uploads/?mount=' "$R1/log" || true)
puts=$(grep -c 'PUT /v2/demo/mounted/blobs/' "$R1/log" || true)
[ "$mounts" -eq "$total2" ] && [ "$puts" -eq 0 ] || fail "second repository: $mounts mounts, $puts blob uploads in the registry's log"
! ctl push s2 "127.0.0.1:$P1/demo/mounted:v2" --insecure --from 'Demo/X' 2>"$T/err" || fail "push with a bad --from"
grep -q "from: not a repository name" "$T/err" || fail "bad --from: $(cat "$T/err")"
say "push s2 to a second repository: $mounts blobs mounted from demo/busybox, none uploaded"
ctl tags "$REF" --insecure >"$T/tags" || fail "tags"
[ "$(tr '\n' ' ' <"$T/tags")" = "v1 v2 " ] || fail "tags: $(cat "$T/tags")"

# Host 2 pulls v1, then v2: the second pull fetches only what s1 lacked.
start_other_daemon "$H"
ctlb --json pull "$REF:v1" s1 --insecure >"$T/l1.json" || fail "pull v1"
# Its blobs are the chunks: not the manifest.json layer nor the image config.
[ "$(jget "$T/l1.json" 'j["fetched_blobs"]')" -eq "$((total1 - 2))" ] || fail "pull v1: $(cat "$T/l1.json")"
# The first form of the artifact (the manifest.json as the config) still pulls.
python3 - "$P1" <<'PY' || fail "could not push a first-form manifest"
import json, sys, urllib.request
u = "http://127.0.0.1:%s/v2/demo/busybox/manifests/" % sys.argv[1]
mt = "application/vnd.oci.image.manifest.v1+json"
m = json.load(urllib.request.urlopen(urllib.request.Request(u + "v1", headers={"Accept": mt})))
m["config"], m["layers"] = m["layers"][0], m["layers"][1:]
urllib.request.urlopen(urllib.request.Request(u + "first", data=json.dumps(m).encode(),
    method="PUT", headers={"Content-Type": mt}))
PY
ctlb --json pull "$REF:first" s1first --insecure >"$T/lf.json" || fail "pull of the first form"
[ "$(jget "$T/lf.json" 'j["id"]')" = "$(jget "$T/l1.json" 'j["id"]')" ] &&
[ "$(jget "$T/lf.json" 'j["fetched_blobs"]')" -eq 0 ] || fail "first form: $(cat "$T/lf.json")"
ctlb snapshot delete s1first >/dev/null || fail "delete s1first"
ctlb --json pull "$REF:v2" --insecure >"$T/l2.json" || fail "pull v2"
[ "$(jget "$T/l2.json" 'j["snapshot"]')" = s2 ] || fail "v2 pulled as $(jget "$T/l2.json" 'j["snapshot"]')"
f2=$(jget "$T/l2.json" 'j["fetched_blobs"]'); p2=$(jget "$T/l2.json" 'j["present_blobs"]')
[ "$f2" -le "$up2" ] && [ "$p2" -gt "$f2" ] || fail "pull v2 fetched $f2, found $p2 present"
cmp "$STATE/snapshots/s2/manifest.json" "$H/state/snapshots/s2/manifest.json" || fail "s2's manifest changed on the way"
ctlb snapshot verify s2 >/dev/null || fail "s2 does not verify on host 2"
say "pull v2 on host 2: fetched $f2 blobs, $p2 were there from s1"
ctlb restore s2 b2 >/dev/null || fail "restore s2 on host 2"
wait_until 30 heartbeat_at_least "$H/state/machines/b2" $((at + 2)) || fail "b2 does not count on"
ctlb halt b2 >/dev/null || fail "halt b2"
say "s2 restored on host 2, counting on from $at"

# s3: a blob only it has is corrupted in the registry's storage.
blob_files "$R1" >"$T/before"
h2=$(heartbeat a)
wait_until 30 heartbeat_at_least a $((h2 + 2)) || fail "no heartbeat after s2"
ctl save a s3 >/dev/null 2>&1 || fail "save s3"
ctl push s3 "$REF:v3" --insecure >/dev/null || fail "push s3"
blob_files "$R1" >"$T/after"
# Not the image config: a pull never fetches it (snapshot-pull.c), so its
# corruption would rightly go unseen; a layer is fetched and checked.
config=$(python3 - "$P1" <<'PY'
import json, sys, urllib.request
u = "http://127.0.0.1:%s/v2/demo/busybox/manifests/v3" % sys.argv[1]
mt = "application/vnd.oci.image.manifest.v1+json"
m = json.load(urllib.request.urlopen(urllib.request.Request(u, headers={"Accept": mt})))
print(m["config"]["digest"].split(":", 1)[1])
PY
) || fail "cannot read the v3 manifest"
victim=$(comm -13 "$T/before" "$T/after" | grep -v "/$config/data\$" | head -n 1)
[ -n "$victim" ] || fail "s3 added no layer blob"
cp "$victim" "$T/victim.orig"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=0x20; open(sys.argv[1],"wb").write(b)' "$victim"
! ctlb pull "$REF:v3" --insecure 2>"$T/err" || fail "a corrupt blob was pulled"
grep -q "BadSnapshot" "$T/err" && grep -q "corrupt" "$T/err" || fail "corrupt blob: $(cat "$T/err")"
no_snapshot_b s3 "a corrupt blob"
cp "$T/victim.orig" "$victim"
say "corrupt blob refused: $(cut -d: -f4- "$T/err" | head -c 200)"

# The registry stops in the middle of a pull (host 3 fetches slowly).
SBUMLD_TEST_PULL_BLOB_DELAY_MS=25 SBUMLD_TEST_CATALOG_PAGE=1
export SBUMLD_TEST_PULL_BLOB_DELAY_MS SBUMLD_TEST_CATALOG_PAGE
start_other_daemon "$T/host3"
unset SBUMLD_TEST_PULL_BLOB_DELAY_MS SBUMLD_TEST_CATALOG_PAGE
gets() { grep -c 'GET /v2/demo/busybox/blobs/' "$R1/log" || true; }
g0=$(gets)
"$SBUMLCTL" --socket "$T/host3/s.sock" pull "$REF:v3" --insecure >"$T/l3.out" 2>"$T/l3.err" &
PULL=$!
wait_until 60 sh -c "[ \$(grep -c 'GET /v2/demo/busybox/blobs/' '$R1/log') -ge $((g0 + 30)) ]" || fail "the pull fetched nothing"
stop_registry "$REG1_PID"
! wait "$PULL" || fail "the pull went through a stopped registry"
# Stopped between two blobs: cannot connect; during one: connection lost.
grep -q "cannot connect\|connection lost" "$T/l3.err" || fail "registry gone: $(cat "$T/l3.err")"
[ ! -e "$T/host3/state/snapshots/s3" ] || fail "an interrupted pull registered s3"
ls -a "$T/host3/state/snapshots" | grep -q partial && fail "an interrupted pull left a work directory"
start_registry "$R1" "$P1"
"$SBUMLCTL" --socket "$T/host3/s.sock" --json pull "$REF:v3" --insecure >"$T/l3.json" || fail "retry of the pull"
f3=$(jget "$T/l3.json" 'j["fetched_blobs"]'); t3=$(jget "$T/l3.json" 'j["blobs"]')
[ "$f3" -lt "$t3" ] || fail "the retry fetched all $t3 blobs again"
"$SBUMLCTL" --socket "$T/host3/s.sock" snapshot verify s3 >/dev/null || fail "s3 does not verify on host 3"
say "registry stopped mid-pull: nothing registered; the retry fetched $f3 of $t3 blobs"

# search: the registry's catalog, one repository a page on host 3 (n=1,
# last=, Link: rel="next"), with the tags; and a prefix.
"$SBUMLCTL" --socket "$T/host3/s.sock" search "127.0.0.1:$P1" --tags --insecure >"$T/search" || fail "search"
# (the tags in the registry's order, which is not always sorted)
python3 -c 'import sys; [print(" ".join(l.split()[:1] + sorted(l.split()[1:]))) for l in open(sys.argv[1])]' \
	"$T/search" >"$T/search.sorted"
printf 'demo/busybox first v1 v2 v3\ndemo/mounted v2\n' | cmp -s - "$T/search.sorted" || fail "search: $(cat "$T/search")"
pages=$(grep -c 'GET /v2/_catalog?n=1' "$R1/log" || true)
[ "$pages" -ge 2 ] || fail "search read $pages catalog pages"
"$SBUMLCTL" --socket "$T/host3/s.sock" search "127.0.0.1:$P1/demo/m" --insecure >"$T/search" || fail "search with a prefix"
[ "$(cat "$T/search")" = demo/mounted ] || fail "search demo/m: $(cat "$T/search")"
! "$SBUMLCTL" --socket "$T/host3/s.sock" search "127.0.0.1:$P1/Demo" --insecure 2>"$T/err" || fail "search with a bad prefix"
grep -q "InvalidParams" "$T/err" || fail "bad prefix: $(cat "$T/err")"
say "search: $pages catalog pages of one repository each"

# A registry with htpasswd auth.
R2="$T/reg2"; P2=$(free_port); mkdir -p "$R2"
htpasswd -Bbn tester sekrit >"$R2/htpasswd" || fail "htpasswd"
printf 'auth:\n  htpasswd:\n    realm: sbuml-test\n    path: %s\n' "$R2/htpasswd" >"$R2/auth.yml"
start_registry "$R2" "$P2" "$R2/auth.yml"
REF2="127.0.0.1:$P2/copies/busybox"
! ctl push s1 "$REF2:v1" --insecure 2>"$T/err" || fail "push without credentials"
grep -q "401" "$T/err" && grep -q "credentials" "$T/err" || fail "no credentials: $(cat "$T/err")"
printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$P2" \
	"$(printf tester:sekrit | base64)" >"$T/auth.json"
REGISTRY_AUTH_FILE="$T/auth.json" ctl push s1 "$REF2:v1" --insecure >/dev/null || fail "push with credentials"
printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$P2" \
	"$(printf tester:wrong | base64)" >"$T/bad.json"
! ctl push s1 "$REF2:v1" --insecure --authfile "$T/bad.json" 2>"$T/err" || fail "push with wrong credentials"
grep -q "401" "$T/err" || fail "wrong credentials: $(cat "$T/err")"
say "htpasswd registry: refused without credentials, took them from auth.json"

# A registry with token auth (distribution's Bearer flow): its 401 names a
# token server (a few lines of python3 here, the JWT signed by openssl),
# which checks Basic credentials and grants the scopes asked for.
tstart=$(date +%s); R3="$T/reg3"; P3=$(free_port); PT=$(free_port); mkdir -p "$R3"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$R3/key.pem" -out "$R3/cert.pem" \
	-days 2 -subj /CN=sbuml-test-token >/dev/null 2>&1 || fail "openssl req"
cat >"$R3/token-server.py" <<'PY'
import base64, http.server, json, subprocess, sys, time, urllib.parse, uuid
port, key, cert, log, life = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
USER, SERVICE, ISSUER = "tester:sekrit", "sbuml-registry", "sbuml-token-issuer"
# docker-registry (distribution 2.8) takes a token until 60 s after its exp
# (its clock-skew Leeway): an exp 60 s early makes a token it refuses life
# seconds after it was granted.
LEEWAY = 60
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     check=True, capture_output=True).stdout
def b64url(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def jwt(sub, access):
    now = int(time.time())
    head = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": ISSUER, "sub": sub, "aud": SERVICE, "exp": now + life - LEEWAY, "nbf": now - 10,
              "iat": now, "jti": uuid.uuid4().hex, "access": access}
    signing = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return signing + "." + b64url(sig)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == USER
        with open(log, "a") as f:
            f.write("%s %s %s\n" % ("granted" if ok else "denied",
                    ",".join(q.get("service", [])), " ".join(q.get("scope", []))))
        if u.path != "/token" or not ok:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        access = []
        for s in q.get("scope", []):
            typ, name, actions = s.split(":")
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        t = jwt(USER.split(":")[0], access)
        body = json.dumps({"token": t, "access_token": t, "expires_in": life}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
# Its tokens live TLIFE seconds (1 s more or less: exp has whole seconds):
# at most 5 s, less than the ~370 pauses of 15 ms of host 4 below.
TLIFE=4
python3 "$R3/token-server.py" "$PT" "$R3/key.pem" "$R3/cert.pem" "$R3/token.log" "$TLIFE" 2>"$R3/token.err" &
OTHER_PIDS="$OTHER_PIDS $!"
cat >"$R3/auth.yml" <<-CFG
auth:
  token:
    realm: http://127.0.0.1:$PT/token
    service: sbuml-registry
    issuer: sbuml-token-issuer
    rootcertbundle: $R3/cert.pem
CFG
start_registry "$R3" "$P3" "$R3/auth.yml"
wait_until 30 sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PT/token | grep -q 401" ||
	fail "the token server did not come up: $(cat "$R3/token.err")"
curl -sI "http://127.0.0.1:$P3/v2/" | grep -qi "www-authenticate: Bearer realm=\"http://127.0.0.1:$PT/token\"" ||
	fail "the token registry asks for no Bearer token"
REF3="127.0.0.1:$P3/tokens/busybox"
! ctl push s1 "$REF3:v1" --insecure 2>"$T/err" || fail "push to the token registry without credentials"
grep -q "401" "$T/err" && grep -q "credentials" "$T/err" || fail "token registry, no credentials: $(cat "$T/err")"
grep -q "^denied sbuml-registry repository:tokens/busybox:pull,push" "$R3/token.log" ||
	fail "the push without credentials did not ask the token server: $(cat "$R3/token.log")"
printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$P3" \
	"$(printf tester:sekrit | base64)" >"$T/auth3.json"
# Host 4 moves s1 with a pause before each blob, so that its push and its
# pull outlive a token several times over: requests with an expired token
# are refused (401) and the daemon gets a new one, in the middle of the
# uploads and of the parallel HEADs and GETs.
ctl export s1 "$T/s1.sbuml" >/dev/null || fail "export s1"
SBUMLD_TEST_PUSH_BLOB_DELAY_MS=15 SBUMLD_TEST_PULL_BLOB_DELAY_MS=15
export SBUMLD_TEST_PUSH_BLOB_DELAY_MS SBUMLD_TEST_PULL_BLOB_DELAY_MS
start_other_daemon "$T/host4"
unset SBUMLD_TEST_PUSH_BLOB_DELAY_MS SBUMLD_TEST_PULL_BLOB_DELAY_MS
ctl4() { "$SBUMLCTL" --socket "$T/host4/s.sock" "$@"; }
ctl4 import "$T/s1.sbuml" s1 >/dev/null || fail "import s1 on host 4"
grants() { grep -c "^granted sbuml-registry repository:tokens/busybox:$1\$" "$R3/token.log" || true; }
expired() { grep -c "token not to be used after" "$R3/log" || true; }
g0=$(grants pull,push); e0=$(expired); t0=$(date +%s)
ctl4 --json push s1 "$REF3:v1" --insecure --authfile "$T/auth3.json" >"$T/pt.json" ||
	fail "push to the token registry with credentials"
[ "$(jget "$T/pt.json" 'j["uploaded_blobs"]')" -eq "$(jget "$T/pt.json" 'j["blobs"]')" ] ||
	fail "push to the token registry: $(cat "$T/pt.json")"
g1=$(grants pull,push); e1=$(expired); t1=$(date +%s)
[ $((g1 - g0)) -ge 2 ] && [ $((e1 - e0)) -ge 1 ] ||
	fail "the push ($((t1 - t0)) s) got $((g1 - g0)) tokens, $((e1 - e0)) requests refused an expired token"
# Host 4 forgets s1 and pulls it back: 8 GETs at a time, the token expiring under them.
ctl4 snapshot delete s1 >/dev/null && ctl4 snapshot gc >/dev/null || fail "delete s1 on host 4"
p0=$(grants pull); e2=$(expired)
ctl4 --json pull "$REF3:v1" s1tok --insecure --authfile "$T/auth3.json" >"$T/lt.json" ||
	fail "pull from the token registry"
p1=$(grants pull); e3=$(expired); t2=$(date +%s)
[ "$(jget "$T/lt.json" 'j["id"]')" = "$(jget "$T/l1.json" 'j["id"]')" ] &&
[ "$(jget "$T/lt.json" 'j["fetched_blobs"]')" -eq "$(($(jget "$T/pt.json" 'j["blobs"]') - 2))" ] ||
	fail "pull from the token registry: $(cat "$T/lt.json")"
[ $((p1 - p0)) -ge 2 ] && [ $((e3 - e2)) -ge 1 ] ||
	fail "the pull ($((t2 - t1)) s) got $((p1 - p0)) tokens, $((e3 - e2)) requests refused an expired token"
ctl4 snapshot verify s1tok >/dev/null || fail "s1tok does not verify"
bget=$(grep -c '"GET /v2/tokens/busybox/blobs/sha256:[0-9a-f]* HTTP/1.1" 200' "$R3/log" || true)
[ "$bget" -ge "$(jget "$T/lt.json" 'j["fetched_blobs"]')" ] || fail "the registry served $bget blobs with a token"
say "token registry (tokens of ${TLIFE} s): push in $((t1 - t0)) s with $((g1 - g0)) tokens, pull of $bget blobs in $((t2 - t1)) s with $((p1 - p0)) ($((e3 - e0)) requests with an expired token refused; $(($(date +%s) - tstart)) s)"

# A hostile registry (python3 here) grants tokens it then refuses: every
# request answered 401 (refuse), or each token good for one request
# (one-each).  The push ends with a clear error after a few tokens.
cat >"$R3/hostile.py" <<'PY'
import http.server, sys, threading, uuid
port, mode, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock, used = threading.Lock(), set()
def note(s):
    with open(log, "a") as f: f.write(s + "\n")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, code, headers={}, body=b""):
        self.send_response(code)
        for k, v in headers.items(): self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        if self.path.startswith("/token"):
            note("token")
            return self.answer(200, {"Content-Type": "application/json"},
                               b'{"token": "t%s"}' % uuid.uuid4().hex.encode())
        auth = self.headers.get("Authorization", "")
        with lock:
            ok = mode == "one-each" and auth.startswith("Bearer ") and auth not in used
            used.add(auth)
        note("%s %s %s" % ("ok" if ok else "401", self.command, self.path))
        if not ok:
            return self.answer(401, {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:%d/token",'
                               'service="hostile"' % port, "Content-Type": "application/json"},
                               b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
        if self.command == "POST":
            return self.answer(202, {"Location": "/v2/hostile/x/blobs/uploads/%s" % uuid.uuid4().hex})
        self.answer({"PUT": 201}.get(self.command, 404))
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
for mode in refuse one-each; do
	PH=$(free_port)
	python3 "$R3/hostile.py" "$PH" "$mode" "$R3/hostile-$mode.log" 2>"$R3/hostile.err" &
	HPID=$!; OTHER_PIDS="$OTHER_PIDS $HPID"
	wait_until 30 sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PH/v2/ | grep -q 401" ||
		fail "the hostile registry did not come up: $(cat "$R3/hostile.err")"
	! ctl push s1 "127.0.0.1:$PH/hostile/x:v1" --insecure 2>"$T/err" || fail "a push to a registry refusing its tokens ($mode)"
	ntok=$(grep -c '^token$' "$R3/hostile-$mode.log" || true)
	nreq=$(grep -c '^[o4]' "$R3/hostile-$mode.log" || true)
	case $mode in
	refuse) grep -q "HTTP 401 Unauthorized again with the token it had just been given" "$T/err" &&
		[ "$ntok" -eq 1 ] || fail "registry refusing every token: $ntok tokens; $(cat "$T/err")" ;;
	# (parallel HEADs race for each new token: a request refused with the
	# token fetched for it fails, else the client stops renewing)
	one-each) grep -q "refused .* tokens already.*giving up\|again with the token it had just been given" "$T/err" &&
		[ "$ntok" -ge 2 ] && [ "$ntok" -le 24 ] || fail "registry taking a token once: $ntok tokens; $(cat "$T/err")" ;;
	esac
	kill "$HPID"; wait "$HPID" 2>/dev/null || true
	say "hostile registry ($mode): the push gave up after $ntok tokens and $nreq requests: $(cut -d: -f3- "$T/err" | head -c 160)"
done
ctl ping >/dev/null || fail "the daemon went away"

# skopeo: inspect the artifact, copy it to the second registry, pull the copy.
skopeo inspect --raw --tls-verify=false "docker://$REF:v2" >"$T/raw.json" || fail "skopeo inspect --raw"
[ "$(jget "$T/raw.json" 'j["artifactType"]')" = application/vnd.sbuml.snapshot.v1 ] || fail "artifactType: $(head -c 300 "$T/raw.json")"
[ "$(jget "$T/raw.json" 'j["layers"][0]["digest"]')" = "sha256:$(jget "$T/l2.json" 'j["id"]')" ] ||
	fail "the first layer is not s2's manifest.json: $(head -c 600 "$T/raw.json")"
skopeo inspect --tls-verify=false "docker://$REF:v2" >"$T/inspect.json" 2>"$T/inspect.err" ||
	fail "skopeo inspect: $(head -c 300 "$T/inspect.err")"
[ "$(jget "$T/inspect.json" 'j["Digest"]')" = "$(jget "$T/p2.json" 'j["digest"]')" ] &&
[ "$(jget "$T/inspect.json" 'j["Labels"]["org.sbuml.artifactType"]')" = application/vnd.sbuml.snapshot.v1 ] &&
[ "$(jget "$T/inspect.json" 'j["Labels"]["org.sbuml.snapshot"]')" = s2 ] &&
[ "$(jget "$T/inspect.json" 'j["Os"]')" = linux ] || fail "skopeo inspect: $(head -c 600 "$T/inspect.json")"
say "skopeo inspect: digest $(jget "$T/inspect.json" 'j["Digest"]'), labels $(jget "$T/inspect.json" 'j["Labels"]')"
skopeo copy --src-tls-verify=false --dest-tls-verify=false --dest-creds tester:sekrit \
	"docker://$REF:v2" "docker://$REF2:v2" >"$T/copy.out" 2>&1 || fail "skopeo copy: $(tail -5 "$T/copy.out")"
# Restore straight from the copy: one call pulls it (with progress) and restores.
! ctlb restore "$REF2:v2" b3 --snapshot s2copy --insecure 2>"$T/err" || fail "restore from a registry without credentials"
grep -q "401" "$T/err" || fail "restore without credentials: $(cat "$T/err")"
no_snapshot_b s2copy "a refused restore from a registry"
REGISTRY_AUTH_FILE="$T/auth.json" ctlb --json restore "$REF2:v2" b3 --snapshot s2copy --insecure >"$T/lc.json" ||
	fail "restore from the copy"
[ "$(jget "$T/lc.json" 'j["source"]["snapshot"]')" = s2copy ] &&
[ "$(jget "$T/lc.json" 'j["source"]["id"]')" = "$(jget "$T/l2.json" 'j["id"]')" ] &&
[ "$(jget "$T/lc.json" 'j["state"]')" = running ] || fail "restore from the copy: $(cat "$T/lc.json")"
wait_until 30 heartbeat_at_least "$H/state/machines/b3" $((at + 2)) || fail "b3 does not count on"
say "skopeo copied v2 to the htpasswd registry; restored from there in one call"

ctlb halt b3 >/dev/null || fail "halt b3"

# An export stream straight from a web server (python3 -m http.server):
# s2 whole, s3 as a delta against s2, which host 2 has.
W="$T/www"; mkdir -p "$W"; PW=$(free_port)
ctl export s2 "$W/s2.sbuml" >/dev/null || fail "export s2"
ctl export s3 "$W/s3.delta" --base s2 >/dev/null || fail "export s3 --base s2"
python3 -m http.server --bind 127.0.0.1 --directory "$W" "$PW" >"$T/http.log" 2>&1 &
OTHER_PIDS="$OTHER_PIDS $!"
wait_until 30 curl -sf -o /dev/null "http://127.0.0.1:$PW/s2.sbuml" || fail "the web server did not come up"
! ctlb import "http://127.0.0.1:$PW/s2.sbuml" s2web 2>"$T/err" || fail "plain http import without --insecure"
grep -q "insecure" "$T/err" || fail "http without --insecure: $(cat "$T/err")"
! ctlb import "http://127.0.0.1:$PW/nosuch.sbuml" s2web --insecure 2>"$T/err" || fail "import of a missing URL"
grep -q "HTTP 404" "$T/err" || fail "missing URL: $(cat "$T/err")"
no_snapshot_b s2web "a 404"
ctlb --json restore "http://127.0.0.1:$PW/s2.sbuml" b4 --snapshot s2web --insecure >"$T/iw.json" ||
	fail "restore from a URL"
[ "$(jget "$T/iw.json" 'j["source"]["id"]')" = "$(jget "$T/l2.json" 'j["id"]')" ] || fail "s2web has another id"
wait_until 30 heartbeat_at_least "$H/state/machines/b4" $((at + 2)) || fail "b4 does not count on"
ctlb halt b4 >/dev/null || fail "halt b4"
ctlb import "http://127.0.0.1:$PW/s3.delta" s3web --base s2 --insecure >/dev/null || fail "import of a delta from a URL"
ctlb snapshot verify s3web >/dev/null || fail "s3web does not verify"
say "restored s2 and imported a delta s3 from http://127.0.0.1:$PW/"
ctl halt a >/dev/null || fail "halt a"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
