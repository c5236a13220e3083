#!/usr/bin/env bash
# A private Docker engine for the tests: containerd and dockerd from Debian's docker.io, as
# root, without systemd, with every socket, PID file and all data under one folder. It
# never touches the default socket or the host's networking.
#
#   scripts/docker-engine.sh install          # Debian's docker.io (CI; about 15 s, 65 MB)
#   scripts/docker-engine.sh start DIR [DATA] # prints `export DOCKER_HOST=unix://DIR/docker.sock`;
#                                             # images and layers in DATA (default DIR/data), so
#                                             # a DATA kept between runs keeps the built image
#   scripts/docker-engine.sh stop DIR         # removes its containers, stops both daemons
#
# Facts it relies on (Debian 12, docker.io 20.10.24, containerd 1.6.20, runc 1.1.5,
# cgroup v1): dockerd answers 0.3-0.5 s after start; overlay2 works here (vfs is the
# fallback where it does not); `--bridge=none --iptables=false --ip-forward=false
# --ip-masq=false` leaves the host's networking alone (containers get only `lo`).
# Daemons are stopped by their PID files, never by name (another engine may run here).
set -euo pipefail

NAME=docker-engine
# shellcheck source=scripts/services.sh
source "$(dirname "$0")/services.sh"

client() {  # Debian's client: it matches the daemon (a newer one may come first on PATH)
    DOCKER_HOST="unix://$DIR/docker.sock" /usr/bin/docker "$@"
}

start() {
    [ "$(id -u)" = 0 ] || die "the test engine runs its daemons as root"
    for daemon in containerd dockerd runc /usr/bin/docker; do
        command -v "$daemon" >/dev/null || die "$daemon is missing: run '$0 install' (as root)"
    done
    mkdir -p "$DIR"/{containerd,exec,log}
    DIR=$(cd "$DIR" && pwd)
    DATA=${DATA:-$DIR/data}
    mkdir -p "$DATA"/{containerd,docker}
    DATA=$(cd "$DATA" && pwd)
    # an engine of a session that crashed may still run on DATA: the caller holds DATA's
    # lock, so it is an orphan; stop it before two engines share one data folder
    if [ -f "$DATA/engine-dir" ] && [ "$(cat "$DATA/engine-dir")" != "$DIR" ]; then
        (DIR=$(cat "$DATA/engine-dir"); stop)
    fi
    echo "$DIR" >"$DATA/engine-dir"
    cat >"$DIR/containerd.toml" <<EOF
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
root = "$DATA/containerd"
state = "$DIR/containerd/state"
[grpc]
  address = "$DIR/containerd.sock"
[ttrpc]
  address = "$DIR/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
    containerd --config "$DIR/containerd.toml" >"$DIR/log/containerd.log" 2>&1 &
    echo $! >"$DIR/containerd.pid"
    wait_for 20 containerd test -S "$DIR/containerd.sock"
    local driver=overlay2
    for attempt in 1 2; do
        dockerd --host "unix://$DIR/docker.sock" --data-root "$DATA/docker" --exec-root "$DIR/exec" \
            --pidfile "$DIR/dockerd.pid" --containerd "$DIR/containerd.sock" --storage-driver "$driver" \
            --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
            >"$DIR/log/dockerd.log" 2>&1 &
        local pid=$!
        local deadline=$((SECONDS + 20))
        until client info >/dev/null 2>&1; do
            if ! kill -0 "$pid" 2>/dev/null; then break; fi
            [ "$SECONDS" -lt "$deadline" ] || die "dockerd did not answer within 20s (logs in $DIR/log)"
            sleep 0.1
        done
        if client info >/dev/null 2>&1; then
            echo "$driver" >"$DIR/driver"
            echo "export DOCKER_HOST=unix://$DIR/docker.sock"
            return 0
        fi
        [ "$attempt" = 1 ] || die "dockerd exited (logs in $DIR/log)"
        driver=vfs  # overlay2 refused (e.g. an overlay root file system): the slow, sure driver
    done
}

stop_pid() {
    local file=$1
    [ -f "$file" ] || return 0
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

stop() {
    [ -d "$DIR" ] || return 0
    DIR=$(cd "$DIR" && pwd)
    if [ -S "$DIR/docker.sock" ]; then
        local containers
        containers=$(client ps -aq 2>/dev/null || true)
        [ -z "$containers" ] || client rm -f $containers >/dev/null 2>&1 || true
    fi
    stop_pid "$DIR/dockerd.pid"
    stop_pid "$DIR/containerd.pid"
}

command=${1:-}
case "$command" in
    install) apt_install docker.io ;;
    start) DIR=${2:?usage: $0 start DIR [DATA]}; DATA=${3:-}; start ;;
    stop) DIR=${2:?usage: $0 stop DIR}; stop ;;
    *) die "usage: $0 install | start DIR [DATA] | stop DIR" ;;
esac
