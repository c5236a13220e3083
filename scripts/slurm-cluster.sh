#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for the tests: munge, MariaDB + slurmdbd (submitit
# needs sacct to notice a job killed from outside), slurmctld and slurmd, all as root,
# without systemd, everything (config, state, logs, sockets, PID files) under one folder.
#
#   scripts/slurm-cluster.sh install          # the Debian packages (CI; about 25 s)
#   scripts/slurm-cluster.sh start DIR        # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-cluster.sh stop DIR         # cancels every job, then stops the daemons
#
# Facts it relies on (Debian 12, Slurm 22.05.8, munge 0.5.15): auth/slurm needs Slurm
# 23.11, so munge, with a fresh key and its socket in a folder of mode 755 (700 makes
# munged refuse); `AccountingStoragePass=<munge socket>` or slurmctld cannot reach
# slurmdbd; `cred_expire=10` cuts the requeue delay from about 121 s to about 11 s;
# `EnforcePartLimits=ALL` rejects impossible requests instead of leaving them pending.
# Daemons are stopped by their PID files, never by name (other clusters may run here).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

NAME=slurm-cluster
# shellcheck source=scripts/services.sh
source "$(dirname "$0")/services.sh"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    [ "$(id -u)" = 0 ] || die "the test cluster runs its daemons as root"
    for daemon in munged mariadbd slurmdbd slurmctld slurmd sbatch; do
        command -v "$daemon" >/dev/null || die "$daemon is missing: run '$0 install' (as root)"
    done
    mkdir -p "$DIR"/{etc,log,run,state,spool,db}
    DIR=$(cd "$DIR" && pwd)
    chmod 755 "$DIR" "$DIR/run"
    local host
    host=$(hostname -s)
    local ctld_port slurmd_port dbd_port db_port
    ctld_port=$(free_port) slurmd_port=$(free_port) dbd_port=$(free_port) db_port=$(free_port)
    local munge_socket="$DIR/run/munge.socket"

    # munge: a fresh key, its socket in a folder of mode 755
    dd if=/dev/urandom of="$DIR/etc/munge.key" bs=1 count=1024 status=none
    chmod 400 "$DIR/etc/munge.key"
    munged --force --key-file="$DIR/etc/munge.key" --socket="$munge_socket" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/run/munge.seed"
    wait_for 10 munged test -S "$munge_socket"

    # MariaDB for slurmdbd, on 127.0.0.1 only
    mariadb-install-db --user=root --datadir="$DIR/db" --auth-root-authentication-method=socket \
        >"$DIR/log/mariadb-install.log" 2>&1
    (mariadbd --user=root --datadir="$DIR/db" --socket="$DIR/run/mysql.sock" --port="$db_port" \
        --bind-address=127.0.0.1 --pid-file="$DIR/run/mariadb.pid" --skip-name-resolve \
        --log-error="$DIR/log/mariadb.log" >/dev/null 2>&1 &)
    wait_for 60 MariaDB mariadb --socket="$DIR/run/mysql.sock" -e "select 1"
    mariadb --socket="$DIR/run/mysql.sock" -e \
        "create user if not exists 'slurm'@'127.0.0.1' identified by 'slurm';
         grant all on *.* to 'slurm'@'127.0.0.1'; flush privileges;"

    cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$munge_socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
EOF
    chmod 600 "$DIR/slurmdbd.conf"  # slurmdbd reads it beside slurm.conf, and only if private

    local cpus memory
    cpus=$(nproc)
    memory=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
    cat >"$DIR/slurm.conf" <<EOF
ClusterName=mtlbench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
EnforcePartLimits=ALL
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStoragePass=$munge_socket
JobRequeue=1
MinJobAge=60
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    export SLURM_CONF="$DIR/slurm.conf"

    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster mtlbench >/dev/null 2>&1 || true
    slurmctld -f "$SLURM_CONF"
    wait_for 30 slurmctld scontrol ping
    slurmd -f "$SLURM_CONF"
    wait_for 30 "the node" sh -c "sinfo -h -N -o %t | grep -qx idle"
    echo "export SLURM_CONF=$SLURM_CONF"
}

stop_pids() {  # stop_pids FILE...: the daemons whose PID the files hold (never by name), together
    local file pid pids=()
    for file in "$@"; do
        [ -f "$file" ] || continue
        pid=$(cat "$file")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$file"
    done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}

stop() {
    DIR=$(cd "$DIR" 2>/dev/null && pwd) || return 0
    if [ -f "$DIR/slurm.conf" ] && [ -f "$DIR/run/slurmctld.pid" ]; then
        SLURM_CONF="$DIR/slurm.conf" scancel --full --quiet -u root 2>/dev/null || true
        for _ in $(seq 50); do
            [ -z "$(SLURM_CONF="$DIR/slurm.conf" squeue -h 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    # Slurm's daemons first (slurmctld saves its state through slurmdbd), then the services below them
    stop_pids "$DIR/run/slurmd.pid" "$DIR/run/slurmctld.pid"
    stop_pids "$DIR/run/slurmdbd.pid" "$DIR/run/mariadb.pid" "$DIR/run/munged.pid"
}

case "${1:-}" in
    install) apt_install "${PACKAGES[@]}" ;;
    start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; DIR=$2; start ;;
    stop) [ -n "${2:-}" ] || die "usage: $0 stop DIR"; DIR=$2; stop ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
