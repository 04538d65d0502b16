# shellcheck shell=bash
# The shell state a sourced file could change: variables (except those bash itself updates),
# options, traps and the working directory.
state() {
    declare -p | grep -vE '^declare [-a-zA-Z]+ (BASH_[A-Z_]+|BASHOPTS|_|FUNCNAME|PIPESTATUS|LINENO|RANDOM|SECONDS|SRANDOM|EPOCH[A-Z]+|before|after)='
    echo "opts=$- $(shopt -po | tr '\n' ' ')"
    echo "traps=$(trap -p)"
    echo "pwd=$PWD"
}
