# What the test-service scripts (docker-engine.sh, slurm-cluster.sh) share; sourced, not run.
# The sourcing script sets NAME (its messages' prefix) and DIR (the service's folder, whose
# log/ the time-out message points to).

die() { echo "$NAME: $*" >&2; exit 1; }

apt_install() {  # apt_install PACKAGE...: an apt-get update only where the first try fails
    [ "$(id -u)" = 0 ] || die "installing needs root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
        || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${seconds}s (logs in $DIR/log)"
        sleep 0.1
    done
}
