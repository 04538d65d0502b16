#!/usr/bin/env bash
# mysql container: starts the server with the generated config. A container restart does not rerun
# the init container, so when the volume is not trusted (replicate.sh marked it for a re-seed, or the
# config is missing) this runs init.sh first; the server never starts on an untrusted volume.
# While that re-seed runs, $MMC_RUN_DIR/mmc-seeding holds init.sh's pid: probe.sh `live` (the startup
# and liveness probes) counts a running seed as alive, so no probe kills it (a seed of a large dataset
# outlasts the startupProbe's 900 s); readiness stays false until the server serves its role.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"

main() {
    set -euo pipefail
    mmc_env_load run || exit 2
    local seeding="$MMC_RUN_DIR/mmc-seeding" rc=0
    rm -f "$seeding"
    if [ ! -f "$MMC_CNF" ] || [ ! -f "$MMC_TRUSTED" ] || [ -e "$MMC_UNTRUSTED" ]; then
        mmc_log "volume not trusted or config missing: running init.sh (probes count the seed as alive)"
        mmc_supervise --pidfile "$seeding" bash "$MMC_DIR/init.sh" || rc=$?
        [ "$rc" = 0 ] || mmc_die "init.sh failed (rc=$rc)"
    fi
    [ -f "$MMC_TRUSTED" ] && [ ! -e "$MMC_UNTRUSTED" ] || mmc_die "refusing to start on an untrusted volume"
    mkdir -p "$MMC_RUN_DIR"
    mmc_chown_data "$MMC_RUN_DIR"
    mmc_log "starting $MMC_SERVER (server_id=$(mmc_server_id))"
    # shellcheck disable=SC2046
    exec "$MMC_SERVER" --defaults-file="$MMC_CNF" $(mmc_run_as_args)
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
