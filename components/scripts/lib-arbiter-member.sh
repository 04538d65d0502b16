#!/usr/bin/env bash
# shellcheck shell=bash
# The arbiter's voter membership follows the config (README "Automatic failover", "How the arbiter
# moves"): the pure decisions of arbiter-member.sh. Sourcing defines functions only; every fact (the
# desired voters of the ConfigMap `<set>-arbiter`, etcd's member list, which voters answer) comes in as
# an argument, so bats tests them without etcd.
#
# Desired voters: etcd's initial-cluster string, "name=peerURL,name=peerURL,..." (the ConfigMap's
# `initial-cluster`, rendered from the config's voter clusters). Members: one line per etcd member,
# "ID name peerURL" (name "-": added, not started yet), as mmc_am_members prints them.

# mmc_am_members MEMBER_LIST_JSON -> one line per member, "ID name peerURL" ("-" for a missing name:
# a member added but not started yet); status 1: no "members" in the JSON. The JSON is etcd's gateway
# answer to /v3/cluster/member/list or /member/add (the latter's "member" object is skipped).
mmc_am_members() {
    local rest obj id name peer re_id='"ID":"([0-9]+)"' re_name='"name":"([^"]*)"' re_peer='"peerURLs":\["([^"]*)"'
    [[ $1 == *'"members":['* ]] || return 1
    rest=${1#*\"members\":[}
    while [[ $rest == *'{'* ]]; do
        rest=${rest#*\{}
        obj=${rest%%\}*}
        rest=${rest#*\}}
        [[ $obj =~ $re_id ]] || continue
        id=${BASH_REMATCH[1]}
        name=-; [[ $obj =~ $re_name ]] && [ -n "${BASH_REMATCH[1]}" ] && name=${BASH_REMATCH[1]}
        peer=-; [[ $obj =~ $re_peer ]] && peer=${BASH_REMATCH[1]}
        echo "$id $name $peer"
        [[ $rest == ','* ]] || [[ $rest == ' ,'* ]] || [[ $rest == ', '* ]] || break
    done
    return 0
}

# mmc_am_desired_names DESIRED -> the desired voters' names, one a line.
mmc_am_desired_names() { local v; local IFS=,; for v in $1; do echo "${v%%=*}"; done; }
# mmc_am_desired_url DESIRED NAME -> that voter's peer URL; status 1: not desired.
mmc_am_desired_url() {
    local v IFS=,
    for v in $1; do [ "${v%%=*}" = "$2" ] && { echo "${v#*=}"; return 0; }; done
    return 1
}
# mmc_am_desired_name_of DESIRED PEER_URL -> the desired voter's name with that peer URL; status 1: not desired.
mmc_am_desired_name_of() {
    local v IFS=,
    for v in $1; do [ "${v#*=}" = "$2" ] && { echo "${v%%=*}"; return 0; }; done
    return 1
}
# mmc_am_client_of PEER_URL CLIENT_PORT -> the voter's client "host:port" (its peer URL's host).
mmc_am_client_of() { local h=${1#*://}; h=${h%:*}; echo "$h:$2"; }

# mmc_am_join_verdict HAS_DATA STATE MEMBERS ME MY_PEER_URL -> what a voter does before etcd starts:
#   "keep"       its data directory holds a member: it restarts with its identity (no add, no remove);
#   "add"        a running arbiter answered and does not list this voter: add it (member add), then
#                start it with --initial-cluster-state=existing and the members the arbiter returned;
#   "join"       the running arbiter lists this voter's peer URL already (added before, or a first
#                start whose other voters started first): start it as "existing" with that list;
#   "bootstrap"  nobody answered and the ConfigMap says "new" (the arbiter's first start: every voter
#                starts with the same initial cluster and they elect among themselves);
#   "wait: <why>" nobody answered and the ConfigMap says "existing": a joining voter never starts a
#                cluster of its own beside the running one (split brain); it waits for the arbiter.
#                Or another voter was added and has not started yet: one membership change at a time.
# MEMBERS: mmc_am_members lines, empty when no voter answered.
mmc_am_join_verdict() {
    local data=$1 state=$2 members=$3 me=$4 url=$5
    local starting
    if [ "$data" = 1 ]; then echo keep; return 0; fi
    if [ -n "$members" ]; then
        if awk -v u="$url" '$3 == u { f = 1 } END { exit !f }' <<<"$members"; then echo join; return 0; fi
        starting=$(awk '$2 == "-" { print $3; exit }' <<<"$members")
        if [ -n "$starting" ]; then echo "wait: member $starting was added and has not started yet (one membership change at a time)"; return 0; fi
        echo add
        return 0
    fi
    if [ "$state" = new ]; then echo bootstrap; return 0; fi
    echo "wait: no voter of the running arbiter answers; voter $me joins it (initial-cluster-state existing) and never starts a cluster of its own"
}

# mmc_am_initial_cluster MEMBERS DESIRED ME MY_PEER_URL -> etcd's --initial-cluster for a voter that
# joins: every member the running arbiter lists (a member not started yet is named from DESIRED),
# this voter under its own name.
mmc_am_initial_cluster() {
    local members=$1 desired=$2 me=$3 url=$4 id name peer out=""
    while read -r id name peer; do
        [ -n "$id" ] || continue
        if [ "$peer" = "$url" ]; then name=$me
        elif [ "$name" = - ]; then
            name=$(mmc_am_desired_name_of "$desired" "$peer") || name="unnamed-$id"
        fi
        out+="${out:+,}$name=$peer"
    done <<<"$members"
    echo "$out"
}

# mmc_am_change_verdict ME DESIRED MEMBERS HEALTHY -> the one membership change a remaining voter makes
# now, or none:
#   "none"              every member is desired (a desired voter not yet a member adds itself when it
#                       starts: mmc_am_join_verdict);
#   "remove <ID> <name>" the first member whose peer URL is no longer desired and that no longer
#                       answers (its pod is gone: its cluster's arbiter StatefulSet was deleted);
#   "wait: <why>"       a member is to go, but: it still answers (this voter's ConfigMap may be older
#                       than the voter that joined: the kubelet refreshes a mounted ConfigMap up to a
#                       minute late, and a voter removed while running would be a voter lost); this voter
#                       is itself leaving or not a member; a member is added and not started yet (one
#                       change at a time); removing it would leave fewer than 3 voters; or the members
#                       that stay have no quorum among them.
# HEALTHY: the IDs of the members that answered (space-separated).
mmc_am_change_verdict() {
    local me=$1 desired=$2 members=$3 healthy=" $4 " id name peer n=0 gone="" gname="" alive="" mine="" starting="" stay=0 up=0 ok
    while read -r id name peer; do
        [ -n "$id" ] || continue
        n=$((n + 1))
        ok=0
        mmc_am_desired_name_of "$desired" "$peer" >/dev/null && ok=1
        [ "$name" = - ] && starting=$peer
        if [ "$ok" = 1 ]; then
            stay=$((stay + 1))
            [[ $healthy == *" $id "* ]] && up=$((up + 1))
            [ "$name" = "$me" ] && mine=$id
        elif [[ $healthy == *" $id "* ]]; then [ -n "$alive" ] || alive=$name
        elif [ -z "$gone" ]; then gone=$id gname=$name
        fi
    done <<<"$members"
    if [ -z "$gone" ]; then
        if [ -n "$alive" ]; then echo "wait: voter $alive is not in the voter set but answers: removed once its pod is gone"; else echo none; fi
        return 0
    fi
    if [ -z "$mine" ]; then echo "wait: voter $me is not a member that stays; the voters that stay remove $gname"; return 0; fi
    if [ -n "$starting" ]; then echo "wait: member $starting was added and has not started yet (one membership change at a time)"; return 0; fi
    if [ $((n - 1)) -lt 3 ]; then echo "wait: removing $gname would leave $((n - 1)) voters, 3 needed"; return 0; fi
    if [ "$up" -lt $(((n - 1) / 2 + 1)) ]; then echo "wait: only $up of the $stay voters that stay answer; removing $gname needs $(((n - 1) / 2 + 1))"; return 0; fi
    echo "remove $gone $gname"
}

# mmc_am_etcd_config NAME INITIAL_CLUSTER STATE FLAGS... -> etcd's configuration file (YAML) from its
# command-line flags ("--key=value"), with initial-cluster and initial-cluster-state as decided: etcd
# reads only the file when given --config-file (flags and ETCD_* variables are then ignored).
mmc_am_etcd_config() {
    local name=$1 init=$2 state=$3 f k v
    shift 3
    printf 'name: %s\ninitial-cluster: %s\ninitial-cluster-state: %s\n' "$name" "$init" "$state"
    for f in "$@"; do
        k=${f#--}; v=${k#*=}; k=${k%%=*}
        case $k in name | initial-cluster | initial-cluster-state) continue ;; esac
        # etcd's file spells its URL lists as one comma-separated string, like the flags
        printf '%s: %s\n' "$k" "$v"
    done
}
