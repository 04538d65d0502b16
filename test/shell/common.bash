# shellcheck shell=bash
# Shared by the bats files: where the scripts are, and a complete, valid set of inputs.
S="$(cd "$BATS_TEST_DIRNAME/../../components/scripts" && pwd)"

load_libs() {
    local f
    for f in lib-env.sh lib-sql.sh lib-engine.sh lib-repl.sh lib-stream.sh; do
        # shellcheck disable=SC1090
        . "$S/$f"
    done
}

# Every input a pod and the switchover and failover Jobs get (docs/dataplane-contract.md), with test values.
valid_env() {
    export MMC_ENGINE=${1:-mariadb} MMC_POD_NAME=mysql-1 MMC_CLUSTER=cluster1 MMC_PORT=3306 MMC_DONOR_PORT=3307 \
        MMC_SERVER_ID_BASE=1000 MMC_GTID_DOMAIN_ID=0 MMC_DATADIR="$BATS_TEST_TMPDIR/data" \
        MMC_CONF_DIR="$BATS_TEST_TMPDIR/conf" MMC_BASE_CONF="$BATS_TEST_TMPDIR/base.cnf" MMC_RUN_DIR="$BATS_TEST_TMPDIR/run" \
        MMC_SEMI_SYNC=on MMC_MAX_LAG_SECONDS=30 MMC_REPL_USER=repl MMC_SEED_USER=seed MMC_ADMIN_USER=mmc_admin \
        MMC_ROOT_PASSWORD=root-pw MMC_REPL_PASSWORD=repl-pw MMC_SEED_PASSWORD=seed-pw MMC_ADMIN_PASSWORD=admin-pw \
        MMC_PRIMARY_ORDINAL=0 MMC_WRITE_HOST=mysql-write MMC_PEERS="0=mysql-0.h 1=mysql-1.h" MMC_DONORS="mysql-0.h" \
        MMC_OLD_PRIMARY_HOST=mysql-0.h MMC_NEW_PRIMARY_HOST=mysql-1.h MMC_REPLICA_HOSTS="" MMC_SOURCE_FOR="" \
        MMC_SWITCHOVER_TIMEOUT_SECONDS=120 MMC_TOPOLOGY_FILE="" TMPDIR="$BATS_TEST_TMPDIR" \
        MMC_EPOCH=2 MMC_LOST="" MMC_LOST_HOSTS=""
}
