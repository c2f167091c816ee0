#!/usr/bin/env bash
# proxy_bench.sh: one run of the strait proxy benchmark on loopback.
#
# Paths, all ending at the same nginx backend (one worker, static body):
#   direct   loadgen -> backend
#   plain    loadgen -> nginx A   -> plain HTTP -> nginx B  -> backend (no TLS: the floor
#            that any two proxy processes in the path pay on this machine)
#   haproxy  loadgen -> haproxy A -> mTLS 1.3 -> haproxy B -> backend
#   nginx    loadgen -> nginx A   -> mTLS 1.3 -> nginx B   -> backend
#   strait   loadgen --proxy -> strait-proxy outbound -> mTLS -> strait-proxy inbound -> backend
# For each: max throughput (closed loop), p50/p99/p99.9 at fixed open-loop
# rates, CPU per 1,000 requests of the proxies, RSS idle and under load.
# The last line compares strait with the others. See bench/README.md.
#
# Usage: bench/proxy_bench.sh [--build DIR] [--quick] [--rates "1000 2000"]
#        [--rate-seconds S] [--slices N] [--max-seconds S]
#        [--paths "direct plain haproxy nginx strait"]
#        [--keep]   (keep the temporary directory with configurations and logs)
#        [--counts] (also count system calls, context switches and epoll_waits per
#                    request of each path's proxies with perf, at the last rate)
set -euo pipefail

time_limit=420 # seconds for the whole run; past that timeout(1) stops it (and the trap cleans up)
if [ -z "${PROXY_BENCH_BOUNDED:-}" ]; then
    PROXY_BENCH_BOUNDED=1 exec timeout -k 15 "$time_limit" "$0" "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD:-$here/../build}
rates="1000 2000"
rate_s=10
max_s=5
warm_s=1
slices=5          # each fixed-rate run is cut into this many slices taking turns over the paths
slice_warm_s=0.5  # warm-up of each slice (the proxies' own connections stay up between slices)
rate_conns=16
max_conns=32
paths="direct plain haproxy nginx strait"
keep=0
counts=0

while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --quick) rate_s=3; max_s=2; slices=3; shift ;;
    --slices) slices=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --rate-seconds) rate_s=$2; shift 2 ;;
    --max-seconds) max_s=$2; shift 2 ;;
    --paths) paths=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --counts) counts=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "proxy_bench: unknown argument $1" >&2; exit 2 ;;
    esac
done

loadgen=$build/bench/loadgen
strait_proxy=$build/bin/strait-proxy
if [ ! -x "$loadgen" ]; then
    echo "proxy_bench: $loadgen not found; build the 'loadgen' target first" >&2
    exit 2
fi
for tool in haproxy nginx openssl python3 curl; do
    command -v "$tool" >/dev/null || { echo "proxy_bench: $tool is not installed" >&2; exit 2; }
done

work=$(mktemp -d /tmp/strait-bench.XXXXXX)
chmod 0755 "$work"
pids=() # every process we started, stopped by cleanup

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
    if [ "$keep" = 1 ]; then
        echo "proxy_bench: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'echo "proxy_bench: interrupted" >&2; exit 130' INT TERM

log() { echo "proxy_bench: $*" >&2; }

# Prints <n> distinct free TCP ports on 127.0.0.1, avoiding strait's well-known ones.
free_ports() {
    /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
n, socks, ports = int(sys.argv[1]), [], []
reserved = {6443, 4140, 4143, 4191, 8086, 9990}
while len(ports) < n:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    socks.append(s)
    if p not in reserved:
        ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

# Waits up to 5 s for a TCP listener on 127.0.0.1:<port>.
wait_port() {
    local port=$1
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$port after 5 s"
    return 1
}

# Fills a template: fill SRC DST KEY=VALUE...
fill() {
    local src=$1 dst=$2 expr=()
    shift 2
    for kv in "$@"; do
        expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    sed "${expr[@]}" "$src" >"$dst"
}

# Sum of VmRSS (KiB) of the given pids.
rss_kb() {
    local total=0 p kb
    for p in "$@"; do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# Sum of Pss (KiB, /proc/PID/smaps_rollup) of the given pids: each shared page
# counts divided by the number of processes that map it, so library text
# shared with every other process costs each of them a fraction, and pages a
# master shares with its worker are not counted twice.
pss_kb() {
    local total=0 p kb
    for p in "$@"; do
        kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# The value of key=value in a loadgen line.
# "A B": the sums of a comma list of per-process figures, the first N of side A.
side_sums() {
    local -a k
    local i a=0 b=0
    read -r -a k <<<"${1//,/ }"
    for i in "${!k[@]}"; do
        if [ "$i" -lt "$2" ]; then a=$((a + k[i])); else b=$((b + k[i])); fi
    done
    echo "$a $b"
}

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# ---- certificates ---------------------------------------------------------------
# The same hierarchy as a strait mesh (docs/identity.md): an anchor, an issuer,
# and one ECDSA P-256 workload certificate per side with its identity as DNS
# SAN. All three peers use these same keys and chains.
trust_domain=cluster.local
client_id=client.bench.serviceaccount.identity.strait.$trust_domain
server_id=server.bench.serviceaccount.identity.strait.$trust_domain

make_certs() {
    local d=$work
    (
        cd "$d"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out anchor.key
        openssl req -x509 -new -key anchor.key -subj /CN=strait-bench-anchor -days 2 \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign -out anchor.crt
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out issuer.key
        openssl req -new -key issuer.key -subj "/CN=identity.strait.$trust_domain" -out issuer.csr
        printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
            "keyUsage=critical,keyCertSign,cRLSign" "subjectKeyIdentifier=hash" \
            "authorityKeyIdentifier=keyid" >issuer.ext
        openssl x509 -req -in issuer.csr -CA anchor.crt -CAkey anchor.key -CAcreateserial \
            -days 2 -extfile issuer.ext -out issuer.crt
        local side id
        for side in client server; do
            if [ $side = client ]; then id=$client_id; else id=$server_id; fi
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $side.key
            openssl req -new -key $side.key -subj "/CN=$id" -out $side.csr
            printf '%s\n' "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" \
                "subjectAltName=DNS:$id,URI:spiffe://$trust_domain/ns/bench/sa/$side" \
                "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >$side.ext
            openssl x509 -req -in $side.csr -CA issuer.crt -CAkey issuer.key -CAcreateserial \
                -days 1 -extfile $side.ext -out $side.crt
            cat $side.crt issuer.crt >$side-chain.crt
            cat $side-chain.crt $side.key >$side.pem # HAProxy wants one file
        done
        chmod 0600 ./*.key ./*.pem
    ) >"$work/openssl.log" 2>&1 || { log "openssl failed:"; cat "$work/openssl.log" >&2; exit 1; }
}

# ---- processes ---------------------------------------------------------------------

start_nginx() { # start_nginx NAME CONF -> sets started_pids (master and workers)
    local name=$1 conf=$2 master
    mkdir -p "$work/$name-tmp"
    nginx -c "$conf" -p "$work" >"$work/$name.out" 2>&1 &
    master=$!
    pids+=("$master")
    sleep 0.3
    mapfile -t started_pids < <(echo "$master"; pgrep -P "$master" || true)
}

start_haproxy() { # start_haproxy NAME CFG -> sets started_pids
    local name=$1 cfg=$2
    haproxy -f "$cfg" -db >"$work/$name.out" 2>&1 &
    pids+=("$!")
    started_pids=("$!")
}

# Stops the processes of one path (they are also in pids for the final trap).
stop_pids() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
    done
}

# ---- fairness check: side B speaks only mutual TLS 1.3 ------------------------------

# check_mtls PORT: "ok" when side B on PORT answers 200 to a client with the
# client certificate over TLS 1.3, and refuses TLS 1.2 and clients without a
# certificate (nginx answers those with a 400, HAProxy fails the handshake).
check_mtls() {
    local port=$1 url="https://$server_id:$1/" code
    local common=(-s -o /dev/null --max-time 3 --resolve "$server_id:$port:127.0.0.1"
        --cacert "$work/anchor.crt")
    local cert=(--cert "$work/client-chain.crt" --key "$work/client.key")
    code=$(curl "${common[@]}" "${cert[@]}" --tlsv1.3 -w '%{http_code}' "$url" || true)
    [ "$code" = 200 ] || { echo "failed(mtls13=$code)"; return; }
    code=$(curl "${common[@]}" "${cert[@]}" --tls-max 1.2 -w '%{http_code}' "$url" || true)
    [ "$code" != 200 ] || { echo "failed(tls12_accepted)"; return; }
    code=$(curl "${common[@]}" -w '%{http_code}' "$url" || true)
    [ "$code" != 200 ] || { echo "failed(no_client_cert_accepted)"; return; }
    echo ok
}

# ---- running loadgen -------------------------------------------------------------------

declare -A dropped gone_pids dead lg_args watch_pids side_a_n status extra idle_rss idle_pss best_max cpu_max \
    rss_load_a rss_load_b pss_load_a pss_load_b errs lat cpu_rate p99_at p99_med_at

# run_loadgen PATH MODE-ARGS...: prints loadgen's line ("" if it failed).
run_loadgen() {
    local path=$1 bound pid_args=()
    shift
    if [ -n "${watch_pids[$path]}" ]; then
        pid_args=(--pids "${watch_pids[$path]// /,}")
    fi
    bound=$((rate_s > max_s ? rate_s + warm_s + 20 : max_s + warm_s + 20))
    # shellcheck disable=SC2086 # lg_args holds several words on purpose
    timeout "$bound" "$loadgen" ${lg_args[$path]} "$@" "${pid_args[@]}" \
        2>>"$work/loadgen-$path.err" || true
}

# The number of errors in a loadgen line, or 1 for a run that printed nothing.
line_errors() {
    local e
    e=$(field "$1" errors)
    echo "${e:-1}"
}

# drop_path PATH: after failed requests, stops the path's proxies so that a
# broken (perhaps spinning) proxy cannot slow the paths still being measured.
drop_path() {
    local path=$1
    dropped[$path]=1
    if [ -n "${watch_pids[$path]}" ]; then
        # Note which of them had already exited before we stop the rest.
        for p in ${watch_pids[$path]}; do
            if ! kill -0 "$p" 2>/dev/null; then gone_pids[$path]+="${gone_pids[$path]:+,}$p"; fi
        done
        # shellcheck disable=SC2086
        stop_pids ${watch_pids[$path]}
        extra[$path]+="${extra[$path]:+ }stopped_after_errors=1"
    fi
}

# start_pair PATH STARTER EXT PORT_A PORT_B WHAT: side B then side A of a peer pair
# from peers/PATH-b.EXT and peers/PATH-a.EXT, started by STARTER (start_nginx or
# start_haproxy); sets the path's load generator target and watched processes.
# Returns 1 (with the path's status set) when a side does not listen.
start_pair() {
    local path=$1 starter=$2 ext=$3 port_a=$4 port_b=$5 what=$6 side_a side_b
    fill "$here/peers/$path-b.$ext" "$work/$path-b.$ext" DIR="$work" PORT_B="$port_b" \
        BACKEND_PORT="$backend_port"
    fill "$here/peers/$path-a.$ext" "$work/$path-a.$ext" DIR="$work" PORT_A="$port_a" \
        PORT_B="$port_b" SERVER_ID="$server_id"
    "$starter" "$path-b" "$work/$path-b.$ext"; side_b=("${started_pids[@]}")
    "$starter" "$path-a" "$work/$path-a.$ext"; side_a=("${started_pids[@]}")
    if ! wait_port "$port_a" || ! wait_port "$port_b"; then
        cat "$work/$path-a.out" "$work/$path-b.out" >&2 || true
        status[$path]="$what did not start"
        return 1
    fi
    lg_args[$path]="--target 127.0.0.1:$port_a"
    watch_pids[$path]="${side_a[*]} ${side_b[*]}"
    side_a_n[$path]=${#side_a[@]}
    extra[$path]=""
}

# ---- main ------------------------------------------------------------------------------

make_certs
read -r backend_port ha_a ha_b ng_a ng_b st_out st_in st_adm_a st_adm_b st_in_a st_out_b pl_a pl_b \
    <<<"$(free_ports 13)"

mkdir -p "$work/backend-tmp"
fill "$here/peers/backend-nginx.conf" "$work/backend.conf" DIR="$work" PORT="$backend_port"
start_nginx backend "$work/backend.conf"
wait_port "$backend_port"

echo "# strait proxy benchmark: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(haproxy -v | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | cut -d' ' -f3)," \
    "max: best of 2 x ${max_s}s x ${max_conns} conns, rates ${rates} req/s x ${rate_s}s" \
    "x ${rate_conns} conns in ${slices} slices"

# The host's state, for reading the p99s: the wakeup of a halted CPU (the
# wakeup tool, pipe ping-pong with a 300 us pause) and the CPU steal over the
# whole run (/proc/stat). See README.md, "Where the tail comes from".
wakeup_tool=$build/bench/wakeup
host_wake() {
    if [ -x "$wakeup_tool" ] && [ "$(nproc)" -ge 2 ]; then
        timeout 30 "$wakeup_tool" 0 1 2000 300 2>/dev/null |
            awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^p(50|99)_us=/) { split($i, kv, "="); v[kv[1]] = kv[2] } }
                 END { if (v["p50_us"] != "") printf "%s/%s", v["p50_us"], v["p99_us"]; else print "n/a" }'
    else
        echo n/a
    fi
}
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
host_wake_start=$(host_wake)
host_steal0=$(awk '/^cpu / { print $9; exit }' /proc/stat)
host_ticks0=$(cpu_ticks)

# Start every path's proxies first: idle they cost nothing, and the
# measurements below can then take turns so that a burst of load from
# elsewhere on the machine hits all paths alike rather than one of them.
active=()
for path in $paths; do
    case "$path" in
    direct)
        lg_args[direct]="--target 127.0.0.1:$backend_port"
        watch_pids[direct]=""
        extra[direct]=""
        ;;
    plain)
        start_pair plain start_nginx conf "$pl_a" "$pl_b" "nginx (plain)" || continue
        ;;
    haproxy)
        start_pair haproxy start_haproxy cfg "$ha_a" "$ha_b" haproxy || continue
        extra[haproxy]="mtls_check=$(check_mtls "$ha_b")"
        ;;
    nginx)
        start_pair nginx start_nginx conf "$ng_a" "$ng_b" nginx || continue
        extra[nginx]="mtls_check=$(check_mtls "$ng_b")"
        ;;
    strait)
        if [ ! -x "$strait_proxy" ]; then
            status[strait]="strait-proxy not available ($strait_proxy not built)"
            continue
        fi
        # The client side's routes send the backend's authority to the server
        # side's inbound port, expecting the server identity; the inbound side
        # forwards to the backend port named there.
        authority="backend.bench.svc.$trust_domain:$backend_port"
        fill "$here/peers/strait-routes.json" "$work/strait-routes.json" \
            AUTHORITY="$authority" INBOUND="127.0.0.1:$st_in" SERVER_ID="$server_id" \
            BACKEND_PORT="$backend_port"
        "$strait_proxy" --outbound "127.0.0.1:$st_out" --inbound "127.0.0.1:$st_in_a" \
            --admin "127.0.0.1:$st_adm_a" --threads 1 --namespace bench \
            --cluster-domain "$trust_domain" --log-level warn --identity-cert "$work/client-chain.crt" \
            --identity-key "$work/client.key" --trust-anchors "$work/anchor.crt" \
            --routes "$work/strait-routes.json" >"$work/strait-a.out" 2>&1 &
        sa=$!
        pids+=("$sa")
        "$strait_proxy" --outbound "127.0.0.1:$st_out_b" --inbound "127.0.0.1:$st_in" \
            --admin "127.0.0.1:$st_adm_b" --threads 1 --namespace bench \
            --cluster-domain "$trust_domain" --log-level warn --identity-cert "$work/server-chain.crt" \
            --identity-key "$work/server.key" --trust-anchors "$work/anchor.crt" \
            >"$work/strait-b.out" 2>&1 &
        sb=$!
        pids+=("$sb")
        if ! wait_port "$st_out" || ! wait_port "$st_in"; then
            log "strait-proxy did not start; its output:"
            cat "$work/strait-a.out" "$work/strait-b.out" >&2 || true
            status[strait]="strait-proxy not available (it did not start)"
            stop_pids "$sa" "$sb"
            continue
        fi
        lg_args[strait]="--proxy 127.0.0.1:$st_out --target $authority"
        watch_pids[strait]="$sa $sb"
        side_a_n[strait]=1
        extra[strait]=""
        ;;
    *)
        log "unknown path $path"
        status[$path]="unknown path"
        continue
        ;;
    esac
    # A few requests must work, or the path is broken and is not measured.
    # shellcheck disable=SC2086
    if ! out=$("$loadgen" ${lg_args[$path]} --rate 20 --conns 1 --duration 0.25 --warmup 0 \
        --timeout 2000 2>&1); then
        log "$path: the first requests failed: $out"
        status[$path]="no successful request"
        continue
    fi
    active+=("$path")
done
sleep 0.5
for path in "${active[@]}"; do
    idle_rss[$path]=- idle_pss[$path]=-
    if [ -n "${watch_pids[$path]}" ]; then
        read -r -a w <<<"${watch_pids[$path]}"
        n=${side_a_n[$path]}
        idle_rss[$path]="$(rss_kb "${w[@]:0:n}")+$(rss_kb "${w[@]:n}")"
        idle_pss[$path]="$(pss_kb "${w[@]:0:n}")+$(pss_kb "${w[@]:n}")"
    fi
    best_max[$path]=0 cpu_max[$path]=- rss_load_a[$path]=0 rss_load_b[$path]=0 errs[$path]=0
    pss_load_a[$path]=0 pss_load_b[$path]=0
    lat[$path]=""
    cpu_rate[$path]=-
done

# Max throughput, closed loop: two turns over all paths, the better one counts.
for _ in 1 2; do
    for path in "${active[@]}"; do
        if [ -n "${dropped[$path]:-}" ]; then continue; fi
        line=$(run_loadgen "$path" --max --conns "$max_conns" --duration "$max_s" \
            --warmup "$warm_s")
        e=$(line_errors "$line")
        errs[$path]=$((${errs[$path]} + e))
        r=$(field "$line" achieved_rps)
        # A run with errors does not count as throughput.
        if [ "$e" != 0 ]; then drop_path "$path"; fi
        if [ "$e" = 0 ] && [ -n "$r" ] && [ "$r" -gt "${best_max[$path]}" ]; then
            best_max[$path]=$r
            c=$(field "$line" cpu_ms_per_1k)
            cpu_max[$path]=${c:--}
        fi
        # Peak RSS and PSS of each side: the sum of its processes' peaks.
        each=$(field "$line" rss_kb_each)
        if [ -n "$each" ]; then
            read -r a b <<<"$(side_sums "$each" "${side_a_n[$path]}")"
            if [ "$a" -gt "${rss_load_a[$path]}" ]; then rss_load_a[$path]=$a; fi
            if [ "$b" -gt "${rss_load_b[$path]}" ]; then rss_load_b[$path]=$b; fi
        fi
        each=$(field "$line" pss_kb_each)
        if [ -n "$each" ]; then
            read -r a b <<<"$(side_sums "$each" "${side_a_n[$path]}")"
            if [ "$a" -gt "${pss_load_a[$path]}" ]; then pss_load_a[$path]=$a; fi
            if [ "$b" -gt "${pss_load_b[$path]}" ]; then pss_load_b[$path]=$b; fi
        fi
    done
done

# Latency at fixed rates, open loop, all paths at one rate before the next rate.
# Each path's run is cut into slices that take turns over the paths (in an
# order that rotates), and its slices' histograms are added up: a burst of
# load from elsewhere on the shared machine, or a noisy minute, then falls on
# every path alike instead of on the one that happened to run then.
slice_s=$(awk -v t="$rate_s" -v n="$slices" 'BEGIN { printf "%.3f", t / n }')
# Time the hypervisor ran something else while this VM wanted its CPUs (the
# "steal" column of /proc/stat, in clock ticks, all CPUs): printed per path
# and rate, it tells a slice spoiled by the host from one spoiled by the path.
clk_tck=$(getconf CLK_TCK)
steal_ticks() { awk '/^cpu / { print $9; exit }' /proc/stat; }
for r in $rates; do
    declare -A slice_files=() slice_errs=() slice_failed=() slice_p99=() slice_steal=()
    for i in $(seq "$slices"); do
        n_active=${#active[@]}
        for j in $(seq 0 $((n_active - 1))); do
            path=${active[$(((i + j) % n_active))]}
            if [ -n "${dropped[$path]:-}" ]; then continue; fi
            f="$work/rate-$path-$r-$i.run"
            st0=$(steal_ticks)
            line=$(run_loadgen "$path" --rate "$r" --conns "$rate_conns" --duration "$slice_s" \
                --warmup "$slice_warm_s" --save "$f")
            slice_steal[$path]=$((${slice_steal[$path]:-0} + $(steal_ticks) - st0))
            if [ -z "$line" ] || [ ! -s "$f" ]; then
                slice_failed[$path]=1
                errs[$path]=$((${errs[$path]} + 1))
                drop_path "$path"
                continue
            fi
            slice_files[$path]+=" $f"
            slice_p99[$path]+=" $(field "$line" p99_ms)"
            e=$(line_errors "$line")
            if [ "$e" != 0 ]; then
                errs[$path]=$((${errs[$path]} + e))
                slice_errs[$path]=$((${slice_errs[$path]:-0} + e))
                drop_path "$path"
            fi
        done
    done
    for path in "${active[@]}"; do
        if [ -z "${slice_files[$path]:-}" ]; then
            if [ -n "${slice_failed[$path]:-}" ]; then lat[$path]+=" p50/p99/p999_ms@${r}=failed"; fi
            continue
        fi
        # shellcheck disable=SC2086 # the file list is several words on purpose
        line=$("$loadgen" --merge ${slice_files[$path]} 2>>"$work/loadgen-$path.err" || true)
        lat[$path]+=" p50/p99/p999_ms@${r}=$(field "$line" p50_ms)/$(field "$line" p99_ms)"
        lat[$path]+="/$(field "$line" p999_ms)"
        e=${slice_errs[$path]:-0}
        if [ -n "${slice_failed[$path]:-}" ]; then e=$((e + 1)); fi
        if [ "$e" = 0 ]; then
            p99_at[$path@$r]=$(field "$line" p99_ms)
            # The median of the slices' p99s: a burst that spoils one slice moves it little.
            p99_med_at[$path@$r]=$(tr ' ' '\n' <<<"${slice_p99[$path]}" | sed '/^$/d' | sort -g |
                awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2];
                    else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
            lat[$path]+=" p99_ms_slice_median@${r}=${p99_med_at[$path@$r]}"
            lat[$path]+=" steal_ms@${r}=$((${slice_steal[$path]:-0} * 1000 / clk_tck))"
        else
            # Latency of a run with errors leaves out the failures: not comparable.
            lat[$path]+="(with_${e}_errors)"
        fi
        c=$(field "$line" cpu_ms_per_1k)
        cpu_rate[$path]=${c:--}
    done
    unset slice_files slice_errs slice_failed slice_p99 slice_steal
done

# ---- counts per request (--counts) ----------------------------------------------------
# Figures that the machine's other load hardly changes, unlike latency: per
# request at the last rate, the system calls, context switches, epoll_wait
# calls and epoll_waits that returned nothing (a loop turn spent only on
# deferred work), and the CPU, of both sides' processes together; and the
# time they spent runnable but waiting for a CPU (which is the other load's
# doing). Printed as extra "counts" lines after the path lines.
count_lines=()
# Nanoseconds the given processes' threads spent on a CPU and waiting for one
# (runnable but not running), from /proc/PID/task/TID/schedstat: "RUN WAIT".
sched_ns() {
    local p t run=0 wait=0 a b c
    for p in "$@"; do
        for t in /proc/"$p"/task/*; do
            read -r a b c <"$t/schedstat" 2>/dev/null || continue
            run=$((run + a)) wait=$((wait + b))
        done
    done
    echo "$run $wait"
}
if [ "$counts" = 1 ]; then
    if ! command -v perf >/dev/null; then
        count_lines+=("counts skipped: perf is not installed")
    else
        for path in "${active[@]}"; do
            if [ -n "${dropped[$path]:-}" ] || [ -z "${watch_pids[$path]}" ]; then continue; fi
            pf="$work/perf-$path.csv"
            s0=$(sched_ns ${watch_pids[$path]})
            perf stat -x, -o "$pf" -p "${watch_pids[$path]// /,}" \
                -e raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_epoll_wait,task-clock \
                -e syscalls:sys_exit_epoll_wait --filter 'ret == 0' >/dev/null 2>&1 &
            perf_pid=$!
            # The whole machine too (loadgen and the backend are part of the path):
            # CPUs woken by an interrupt from another CPU, idle entries, task migrations.
            pfa="$work/perf-all-$path.csv"
            perf stat -a -x, -o "$pfa" -e irq_vectors:reschedule_entry \
                -e irq_vectors:call_function_single_entry -e sched:sched_migrate_task \
                -e power:cpu_idle --filter 'state != 4294967295' >/dev/null 2>&1 &
            perf_all_pid=$!
            sleep 0.5
            # shellcheck disable=SC2086
            line=$(timeout 30 "$loadgen" ${lg_args[$path]} --rate "${rates##* }" \
                --conns "$rate_conns" --duration 3 --warmup 0 2>/dev/null || true)
            s1=$(sched_ns ${watch_pids[$path]})
            kill -INT "$perf_pid" "$perf_all_pid" 2>/dev/null || true
            wait "$perf_pid" 2>/dev/null || true
            wait "$perf_all_pid" 2>/dev/null || true
            ok=$(field "$line" ok)
            if [ -z "$ok" ] || [ "$ok" = 0 ] || [ ! -s "$pf" ]; then
                count_lines+=("counts path=$path failed")
                continue
            fi
            count_lines+=("$(awk -F, -v n="$ok" -v p="$path" -v r="${rates##* }" -v s0="$s0" -v s1="$s1" '
                /^[0-9.]+,/ {
                    if ($3 ~ /raw_syscalls/) sc = $1
                    else if ($3 ~ /context-switches/) cs = $1
                    else if ($3 ~ /sys_enter_epoll_wait/) ew = $1
                    else if ($3 ~ /sys_exit_epoll_wait/) ee = $1
                    else if ($3 ~ /task-clock/) tc = $1
                }
                END {
                    printf "counts path=%s rate=%s requests=%d syscalls_per_req=%.2f", p, r, n, sc / n
                    printf " ctx_switches_per_req=%.2f epoll_waits_per_req=%.2f", cs / n, ew / n
                    printf " empty_epoll_waits_per_req=%.2f cpu_ms_per_1k=%.1f", ee / n, tc * 1000 / n
                    split(s0, a, " "); split(s1, b, " ")
                    printf " runq_wait_us_per_req=%.0f", (b[2] - a[2]) / n / 1000
                }' "$pf")$(awk -F, -v n="$ok" '
                /^[0-9.]+,/ {
                    if ($3 ~ /reschedule_entry|call_function_single_entry/) ipi += $1
                    else if ($3 ~ /sched_migrate_task/) mig = $1
                    else if ($3 ~ /cpu_idle/) idle = $1
                }
                END {
                    printf " machine_ipis_per_req=%.2f machine_idle_entries_per_req=%.2f", ipi / n, idle / n
                    printf " machine_migrations_per_req=%.2f", mig / n
                }' "$pfa" 2>/dev/null)")
        done
    fi
fi

# ---- report --------------------------------------------------------------------------

last_rate=${rates##* }
for path in $paths; do
    if [ -n "${status[$path]:-}" ]; then
        echo "path=$path skipped: ${status[$path]}"
        continue
    fi
    rl="${rss_load_a[$path]}+${rss_load_b[$path]}"
    if [ "$rl" = 0+0 ]; then rl=-; fi
    pl="${pss_load_a[$path]}+${pss_load_b[$path]}"
    if [ "$pl" = 0+0 ]; then pl=-; fi
    gone=${gone_pids[$path]:-}
    if [ -z "${dropped[$path]:-}" ]; then
        for p in ${watch_pids[$path]}; do
            if ! kill -0 "$p" 2>/dev/null; then gone+="${gone:+,}$p"; fi
        done
    fi
    if [ -n "$gone" ]; then
        # A proxy that died mid-run: its figures are printed but not compared.
        extra[$path]+="${extra[$path]:+ }exited_during_run=$gone"
        dead[$path]=1
    fi
    echo "path=$path max_rps=${best_max[$path]}${lat[$path]}" \
        "cpu_ms_per_1k@max=${cpu_max[$path]} cpu_ms_per_1k@${last_rate}=${cpu_rate[$path]}" \
        "rss_idle_kb=${idle_rss[$path]} rss_load_kb=$rl pss_idle_kb=${idle_pss[$path]}" \
        "pss_load_kb=$pl errors=${errs[$path]}${extra[$path]:+ ${extra[$path]}}"
done

for l in "${count_lines[@]}"; do echo "$l"; done

host_steal1=$(awk '/^cpu / { print $9; exit }' /proc/stat)
host_ticks1=$(cpu_ticks)
echo "host wake_p50/p99_us@start=$host_wake_start wake_p50/p99_us@end=$(host_wake)" \
    "steal_pct=$(awk -v s=$((host_steal1 - host_steal0)) -v t=$((host_ticks1 - host_ticks0)) \
        'BEGIN { if (t > 0) printf "%.1f", 100 * s / t; else print "n/a" }')"

ratio() { # ratio A B: A/B with two decimals, n/a when either is missing or zero
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'
}
# A path that failed requests, or whose processes died mid-run, is not compared.
usable() { [ -z "${dead[$1]:-}" ] && [ "${errs[$1]:-1}" = 0 ]; }
cmp_max() { if usable "$1"; then echo "${best_max[$1]:-0}"; else echo 0; fi; }
cmp_p99() { if usable "$1"; then echo "${p99_at[$1@$last_rate]:-}"; else echo ""; fi; }
cmp_p99_med() { if usable "$1"; then echo "${p99_med_at[$1@$last_rate]:-}"; else echo ""; fi; }
for path in direct plain haproxy nginx strait; do
    if [ -z "${status[$path]:-}" ] && [ -n "${errs[$path]:-}" ] && ! usable "$path"; then
        echo "# $path: failed requests or a process exited, so it is left out of the ratios"
    fi
done
s=$(cmp_max strait)
p99_minus() { # p99_minus A B: p99 A minus p99 B in ms with three decimals, n/a when either is missing
    awk -v s="$1" -v d="$2" 'BEGIN { if (s != "" && d != "") printf "%.3f", s - d; else print "n/a" }'
}
added=$(p99_minus "$(cmp_p99 strait)" "$(cmp_p99 direct)")
added_med=$(p99_minus "$(cmp_p99_med strait)" "$(cmp_p99_med direct)")
plain_added=$(p99_minus "$(cmp_p99 plain)" "$(cmp_p99 direct)")
plain_added_med=$(p99_minus "$(cmp_p99_med plain)" "$(cmp_p99_med direct)")
# The goals for strait (bench/README.md), each judged on this run's figures:
# met, missed, or n/a when a figure is missing (a path not run or left out).
r_ha=$(ratio "$s" "$(cmp_max haproxy)")
r_ng=$(ratio "$s" "$(cmp_max nginx)")
goal_thr=$(awk -v a="$r_ha" -v b="$r_ng" 'BEGIN {
    if (a == "n/a" || b == "n/a") print "n/a"; else print ((a < b ? a : b) >= 1.3 ? "met" : "missed") }')
goal_mem() { # goal_mem A+B LIMIT_BYTES: both sides (KiB figures) under the limit
    awk -v v="${1:--}" -v lim="$2" 'BEGIN {
        if (split(v, s, "+") != 2 || s[1] !~ /^[0-9]+$/ || s[2] !~ /^[0-9]+$/) { print "n/a"; exit }
        print (s[1] * 1024 < lim && s[2] * 1024 < lim ? "met" : "missed") }'
}
# Memory is judged on VmRSS, the figure the goal names and the larger one
# (Pss leaves out shared pages), with 4 MB and 16 MB read as 4,000,000 and
# 16,000,000 bytes, the stricter reading.
st_rss_idle=- st_rss_load=-
if usable strait; then
    st_rss_idle=${idle_rss[strait]:--}
    st_rss_load="${rss_load_a[strait]:-0}+${rss_load_b[strait]:-0}"
    if [ "$st_rss_load" = 0+0 ]; then st_rss_load=-; fi # never sampled, as on its path line
fi
goal_idle=$(goal_mem "$st_rss_idle" 4000000)
goal_load=$(goal_mem "$st_rss_load" 16000000)
goal_p99=$(awk -v a="$added" 'BEGIN { if (a == "n/a") print "n/a"; else print (a < 0.5 ? "met" : "missed") }')
echo "goals throughput_1.3x=$goal_thr rss_idle_4MB=$goal_idle rss_load_16MB=$goal_load" \
    "added_p99_0.5ms=$goal_p99"
echo "ratio strait/haproxy=$r_ha strait/nginx=$r_ng" \
    "strait/direct=$(ratio "$s" "$(cmp_max direct)") added_p99_ms=$added" \
    "added_p99_ms_slice_median=$added_med plain_added_p99_ms=$plain_added" \
    "plain_added_p99_ms_slice_median=$plain_added_med"
