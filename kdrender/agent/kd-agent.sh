#!/bin/sh
# kd-agent.sh - the in-pod replacement for KubeDirector's runtime actions ("Option B" of
# kubedirector-spec.md section 6.2).  Plain POSIX sh: runs under dash, bash and busybox sh.
#
# HOW IT IS STARTED
#   From the app container's postStart hook, in the background, exactly:
#     nohup /bin/sh /etc/kd/agent/kd-agent.sh >/tmp/kd-agent.log 2>&1 </dev/null &
#   so the script never needs its executable bit.  Every action is logged to stdout with a
#   UTC timestamp (hence to /tmp/kd-agent.log); the output of the commands it runs (curl, tar,
#   ln, notifications) is captured and relayed into the log line by line, also timestamped.
#
# INPUTS (environment)
#   KD_ROOT        prefix for every absolute path the agent touches (default: empty).  Tests
#                  run the agent in a temporary root.  Commands (curl, systemctl, getent, sh,
#                  the startscript's helpers) are looked up through PATH, so tests put fakes
#                  first in PATH.
#   KD_POD_NAME    this member's pod name (default: `hostname`, else `uname -n`).
#   KD_CONFIG_DIR  the mounted configmeta ConfigMap (default $KD_ROOT/etc/kd/configmeta):
#                    configmeta.json  the document every member shares, without "node";
#                    <pod>.node.json  each member's "node" object; the agent inserts it before
#                                  the top-level "connections" key, which is where KubeDirector's
#                                  json.Marshal puts it (one shared document keeps a 1000-member
#                                  cluster far below the 1 MiB ConfigMap limit);
#                    members       one "<roleID> <fqdn>" line per member, sorted;
#                    connections   one opaque line that changes when connected clusters change;
#                    fills         (optional) what the agent fills into configmeta from mounted
#                                  objects (see "values from the cluster" below); the agent adds
#                                  a line for connected ConfigMaps/Secrets to the connections
#                                  version, so their changes run --reconnect too.
#                  A configmeta too large for one ConfigMap is split over several, projected
#                  into this one volume: a value may be cut into <key>, <key>.1, <key>.2, ...
#                  (concatenated in that order), and `shards` ("<count> <version>") with one
#                  `shard.<i>` ("<version>") per further ConfigMap makes sure all are of one
#                  version before any is used.
#                  kubelet updates a ConfigMap mount by swapping the ..data symlink, so the agent
#                  re-reads everything on each pass (never caching inodes) and reads the three
#                  keys from one resolved ..data directory, so a pass sees one consistent version.
#   KD_AGENT_DIR   (default $KD_ROOT/etc/kd/agent) holds this script, one <roleID>.env per role
#                  with single-quoted shell assignments KD_ROLE, KD_PACKAGE_URL (empty = no setup
#                  package), KD_NEW_LAYOUT (true/false), KD_EVENTS ("all" when the role's
#                  eventList is unset, else a space-separated subset of
#                  "configure addnodes delnodes", possibly empty), KD_SYSTEMD (true/false),
#                  KD_CONFIGCLI_URL, KD_READY_DOMAIN, KD_WHEN_SCALED (the StatefulSet's
#                  persistentVolumeClaimRetentionPolicy.whenScaled), optionally KD_CONFIGCLI_SHA256, KD_POLL_SECONDS (integer), and optionally
#                  <roleID>.injections: one file injection per line, TAB-separated fields
#                  srcURL, destDir, fileMode (octal digits or empty), fileOwner, fileGroup.
#                  KD_CONFIGURE_TIMEOUT (seconds `startscript --configure` may run; 0 = no limit).
#   KD_PEER_WAIT_SECONDS  bound on waiting for new peers to be ready before --addnodes (600).
#   KD_FETCH_ATTEMPTS, KD_FETCH_BACKOFF  downloads (injections, configcli, setup package) are
#                  tried KD_FETCH_ATTEMPTS times (5), waiting KD_FETCH_BACKOFF seconds (2) after
#                  the first failure and twice as long after each next one, before a config error.
#   KD_ONESHOT=1   run the setup, then a single watch pass, then exit (for tests).
#   KD_CONTAINER_FINGERPRINT  overrides the container-instance fingerprint (tests only; below).
#   Explicitly set KD_CONFIG_DIR / KD_AGENT_DIR are used as given (not prefixed by KD_ROOT).
#
# The agent's role is the first word of the `members` line whose fqdn starts with
# "$KD_POD_NAME.".  If the pod is not listed yet, the agent waits (or, with KD_ONESHOT=1, fails).
#
# OUTPUTS
#   $KD_ROOT/run/kd/state   "starting", "configuring", "configured" or "config error: <detail>"
#   $KD_ROOT/run/kd/ready   exists once the member is configured (readinessProbe:
#                           test -f /run/kd/ready).  Removed when the agent starts.
#   $KD_ROOT/run/kd-container-id  the per-container-instance id used in configure.status in
#                           place of the Docker container id (see CONTAINER ID below).
#   /etc/guestconfig/configmeta.json, /opt/guestconfig/configure.{status,stdout,stderr} exactly
#   as KubeDirector writes them; /etc/guestconfig/kd-members and kd-connections hold the member
#   list and connections version this member last processed (the watch loop's memory).
#
# STEPS (KubeDirector's order and commands, kubedirector-spec.md section 6.1)
#   1. File injections (every role that has them, package or not), per line:
#        mkdir -p <destDir> && cd <destDir> && curl -L <srcURL> -o <destDir>/<basename(srcURL)>
#        [&& chmod <mode> <dest>] [&& chown <owner> <dest>] [&& chgrp <group> <dest>]
#      (every curl of the agent runs as `curl -L --fail -o <out> -- <url>`, retried as above;
#      chown and chgrp get `--` too; an owner, group or file name starting with "-" is refused,
#      as `kdrender validate` refuses it).
#      Failure: state "config error: failed requested file injections: ...", exit 1.
#   2. No package (KD_PACKAGE_URL empty): ready, exit 0.  No configmeta, no watch loop.
#   3. If /opt/guestconfig/configure.status exists ("<id>=<rc>", split at the last "="):
#        rc empty, same id       configure still running (its `sh -c` survives an agent that
#                                died): wait, re-check every KD_POLL_SECONDS;
#        rc empty, other id      interrupted by a container restart: start over;
#        rc 0                    already configured: on a new container re-create the legacy
#                                links (new layout), ready, watch loop;
#        rc 0, kd-removed,       a member scaled down and up again (a new pod) that kept its
#        other id                volume (the agent wrote /etc/guestconfig/kd-removed when it left members):
#                                KD_WHEN_SCALED=Delete: a new member (state dropped, configured
#                                again); Retain: it keeps its state and the watch loop notifies
#                                it, from its saved member list, of what changed while away;
#        rc != 0, same id        state "config error: configure failed with exit status <rc>",
#                                exit 1;
#        rc != 0, other id       a restarted container of a member in config error: KubeDirector
#                                re-tries the whole setup (members.go appConfig), so do we;
#        no "="                  "config error: configure failed with malformed status file".
#   4. KD_SYSTEMD=true: loop until
#        systemctl status systemd-journald > /tmp/journald-status.out 2>&1   exits 0.
#   5. mkdir -p /etc/guestconfig [&& chmod 700 /etc/guestconfig  (new layout)], then write
#      /etc/guestconfig/configmeta.json from the ConfigMap (atomically: temp file + mv).  The
#      members/connections of that same ConfigMap version are saved as kd-members/kd-connections.
#      A configmeta that is not valid JSON is a config error ("... configmeta for <pod> is not
#      valid JSON"); in the watch loop it is not applied (logged, retried on the next pass).
#   6. configcli, skipped if /usr/local/bin/configcli or /usr/bin/configcli exists; otherwise
#        curl -L $KD_CONFIGCLI_URL -o /tmp/configcli.tgz (or, air-gapped, a copy of
#        $KD_AGENT_DIR/configcli.tgz shipped in the bundle: no curl), its sha256 checked against
#        KD_CONFIGCLI_SHA256 when set (a mismatch is "config error: execution of app config
#        failed: configcli.tgz does not match the pinned sha256 ..."), then
#        cd /tmp && tar xzf configcli.tgz && chmod u+x /tmp/configcli-*/install &&
#        /tmp/configcli-*/install [--new] && rm -rf /tmp/configcli-* && rm -f /tmp/configcli.tgz &&
#        ln -sf <P>/bin/configcli <P>/bin/bdvcli && ln -sf <P>/bin/configcli <P>/bin/bd_vcli
#      with <P> = /usr/local (new layout, --new) or /usr (legacy).
#   7. New layout only: ln -sf /usr/local/bin/configcli /usr/bin/bdvcli && ... bd_vcli &&
#      ... /usr/bin/configcli && ln -sf /usr/local/bin/ccli /usr/bin/ccli &&
#      ln -sf /usr/local/bin/configmacro /usr/bin/configmacro
#   8. Setup package, skipped if /opt/guestconfig/*/startscript exists:
#        mkdir -p /opt/guestconfig && chmod 700 /opt/guestconfig && cd /opt/guestconfig &&
#        rm -rf /opt/guestconfig/* && curl -L <packageURL> -o appconfig.tgz &&
#        tar xzf appconfig.tgz && chmod u+x /opt/guestconfig/*/startscript &&
#        rm -rf /opt/guestconfig/appconfig.tgz
#      (file:// URLs point into the image; curl reads them.)
#   9. KD_EVENTS not "all" and without "configure": ready.  Otherwise
#        rm -f /opt/guestconfig/configure.* && printf '%s=' <id> > /opt/guestconfig/configure.status
#        sh -c '/opt/guestconfig/*/startscript --configure 2>/opt/guestconfig/configure.stderr
#               1>/opt/guestconfig/configure.stdout; printf %s $? >> /opt/guestconfig/configure.status'
#      (run in the foreground of the already-backgrounded agent).  rc 0: ready; else state
#      "config error: configure failed with exit status <rc>", not ready, exit 1.  With
#      KD_CONFIGURE_TIMEOUT > 0 the startscript runs under `timeout -k 10 <seconds>` when the
#      image has a timeout(1) that takes that form, else under a shell watchdog (TERM, then KILL
#      10 s later); a timeout writes rc 124 and gives "config error: configure timed out after
#      <seconds>s".
#      Errors in steps 5, 6, 7, 8 give "config error: execution of app config failed: <what>".
#  10. Watch loop (configured members of roles with a package): a pass as soon as kubelet has
#      swapped in a new version of the ConfigMap (or of a mounted object its `fills` reads),
#      seen within a second: every second the loop tests with shell builtins only (`[ a -ef b ]`,
#      no process but `sleep 1`) whether each mount's ..data still points to the version
#      directory noted before the last pass (kubelet swaps ..data, then deletes the old
#      directory); and a pass at least every KD_POLL_SECONDS (retries; mounts without ..data).
#      It exits when $KD_ROOT/run/kd/stop exists (checked every second), or after one pass
#      with KD_ONESHOT=1.  Each pass reads one consistent version of the ConfigMap and:
#        - own fqdn no longer in members: the member is being removed; do nothing at all;
#        - configmeta.json differs from the ConfigMap's: replace it (this alone never calls
#          the startscript; it comes first, as KubeDirector pushes configmeta before notifying);
#        - connections changed:
#            /opt/guestconfig/*/startscript --reconnect >>/opt/guestconfig/configure.stdout
#                                                       2>>/opt/guestconfig/configure.stderr
#          (KubeDirector runs --reconnect right where it pushes configmeta, before notifies).
#          KubeDirector's reconnect command also rewrites configure.status to "<id>=<rc of
#          --reconnect>"; the agent leaves configure.status alone, because a failed reconnect
#          would otherwise turn the next container start into a permanent config error, and a
#          failed reconnect is retried on the next pass instead;
#        - members changed: per role, in sorted role order, all deletions first, then additions:
#            startscript --delnodes --nodegroup 1 --role <role> --fqdns <csv of removed fqdns>
#            startscript --addnodes --nodegroup 1 --role <role> --fqdns <csv of added fqdns>
#          (csv in members-file order, own fqdn never included), each only when KD_EVENTS is
#          "all" or lists the event.  Before --addnodes every new peer must be ready, as
#          KubeDirector notifies only after the new member's own --configure: its fqdn resolves
#          (`getent hosts <fqdn>`) and, with KD_READY_DOMAIN, `getent hosts <a-b-c-d>.$KD_READY_DOMAIN`
#          resolves too (<a-b-c-d>: its address with '.' or ':' as '-'; the readiness Service has
#          no publishNotReadyAddresses, so DNS serves that name only while the peer is Ready),
#          waiting at most KD_PEER_WAIT_SECONDS in total per role.
#        - then the processed state is saved.  A notification (or reconnect) that fails or whose
#          peers never resolve is logged and retried on the next pass: the saved state keeps the
#          old entries for exactly that role/event (or the old connections line).
#      No pod restart is ever needed for membership or connection changes.
#
# CONTAINER ID
#   KubeDirector writes the Docker container id into configure.status.  The agent uses a random
#   id kept in /run/kd-container-id.  /run in a KubeDirector pod is a memory-backed emptyDir,
#   which survives container restarts inside the same pod, so the file alone would not change
#   on a restart.  The agent therefore also records a fingerprint of the container instance
#   (kernel boot id + start time of PID 1 + id of the root mount) in /run/kd/container-fingerprint
#   and draws a new id when that fingerprint changes.  A kd-container-id without a fingerprint
#   file is trusted as is.  Only one agent runs per container (pid file /run/kd/agent.pid).

KD_ROOT=${KD_ROOT:-}
R=$KD_ROOT
KD_CONFIG_DIR=${KD_CONFIG_DIR:-$R/etc/kd/configmeta}
KD_AGENT_DIR=${KD_AGENT_DIR:-$R/etc/kd/agent}
if [ -z "${KD_POD_NAME:-}" ]; then
    KD_POD_NAME=$(hostname 2>/dev/null) || KD_POD_NAME=
    [ -n "$KD_POD_NAME" ] || KD_POD_NAME=$(uname -n)
fi
KD_PEER_WAIT_SECONDS=${KD_PEER_WAIT_SECONDS:-600}
KD_ONESHOT=${KD_ONESHOT:-0}
KD_POLL_SECONDS=${KD_POLL_SECONDS:-10}
KD_FETCH_ATTEMPTS=${KD_FETCH_ATTEMPTS:-5}
KD_FETCH_BACKOFF=${KD_FETCH_BACKOFF:-2}

GC_ETC=$R/etc/guestconfig
GC_OPT=$R/opt/guestconfig
CONFIGMETA=$GC_ETC/configmeta.json
SAVED_MEMBERS=$GC_ETC/kd-members
SAVED_CONNECTIONS=$GC_ETC/kd-connections
REMOVED_MARK=$GC_ETC/kd-removed
STATUS_FILE=$GC_OPT/configure.status
RUN_DIR=$R/run/kd
STATE_FILE=$RUN_DIR/state
READY_FILE=$RUN_DIR/ready
STOP_FILE=$RUN_DIR/stop
PID_FILE=$RUN_DIR/agent.pid
TIMEOUT_MARK=$RUN_DIR/configure.timeout
FP_FILE=$RUN_DIR/container-fingerprint
ID_FILE=$R/run/kd-container-id
SNAP=$RUN_DIR/snapshot
CMD_OUT=$RUN_DIR/command.out
TAB=$(printf '\t')

CONTAINER_ID=
ROLE=
SELF_FQDN=
REMOVED_LOGGED=0
WATCH_MARKS=

log() {
    printf '%s kd-agent[%s]: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$$" "$*"
}

set_state() {
    printf '%s\n' "$1" > "$STATE_FILE.tmp" && mv -f "$STATE_FILE.tmp" "$STATE_FILE"
}

mark_ready() {
    set_state configured
    : > "$READY_FILE"
    log "member configured: created $READY_FILE"
}

# fail <detail>: config error, not ready, exit 1.
fail() {
    rm -f "$READY_FILE"
    set_state "config error: $1"
    log "config error: $1"
    exit 1
}

# relay: log the captured output of the last command (curl, tar, the startscript, ...), so
# every line of the agent's log carries a timestamp.
relay() {
    if [ -s "$CMD_OUT" ]; then
        while IFS= read -r _l || [ -n "$_l" ]; do
            log "  | $_l"
        done < "$CMD_OUT"
    fi
    rm -f "$CMD_OUT"
}

stop_requested() {
    [ -e "$STOP_FILE" ]
}

nap() {
    sleep "${1:-$KD_POLL_SECONDS}"
}

event_enabled() {
    case " $KD_EVENTS " in
        *" all "*|*" $1 "*) return 0 ;;
    esac
    return 1
}

is_true() {
    [ "$1" = true ]
}

# same_content <a> <b>: both files exist with identical content.  cmp is in diffutils and
# busybox; without it, compare in the shell (the "x" keeps trailing newlines significant).
same_content() {
    [ -f "$1" ] && [ -f "$2" ] || return 1
    if command -v cmp > /dev/null 2>&1; then
        cmp -s "$1" "$2"
    else
        [ "$(cat "$1"; echo x)" = "$(cat "$2"; echo x)" ]
    fi
}

# ---------------------------------------------------------------------------------------------
# container instance id

container_fingerprint() {
    if [ -n "${KD_CONTAINER_FINGERPRINT:-}" ]; then
        printf '%s\n' "$KD_CONTAINER_FINGERPRINT"
        return
    fi
    _boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
    # field 22 of /proc/1/stat (starttime); the command name (field 2) may contain spaces.
    _start=$(sed 's/^.*) //' /proc/1/stat 2>/dev/null | awk '{print $20}')
    _rootmnt=$(awk '$5 == "/" {print $1; exit}' /proc/self/mountinfo 2>/dev/null)
    printf '%s:%s:%s\n' "$_boot" "$_start" "$_rootmnt"
}

new_id() {
    _id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null)
    [ -n "$_id" ] || _id=$(od -An -N16 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')
    [ -n "$_id" ] || _id=$(date +%s)-$$
    printf '%s\n' "$_id"
}

ensure_container_id() {
    _fp=$(container_fingerprint)
    if [ -s "$ID_FILE" ] && { [ ! -f "$FP_FILE" ] || [ "$(cat "$FP_FILE")" = "$_fp" ]; }; then
        CONTAINER_ID=$(cat "$ID_FILE")
    else
        CONTAINER_ID=$(new_id)
        printf '%s\n' "$CONTAINER_ID" > "$ID_FILE.tmp" && mv -f "$ID_FILE.tmp" "$ID_FILE" ||
            { log "cannot write $ID_FILE"; exit 1; }
        log "new container instance: id $CONTAINER_ID written to $ID_FILE"
    fi
    printf '%s\n' "$_fp" > "$FP_FILE"
}

# ---------------------------------------------------------------------------------------------
# ConfigMap access

# config_version_dir: the directory the ConfigMap's ..data symlink points to (or the mount
# itself when it is a plain directory, e.g. in tests without ..data).
# With an argument: the same for another ConfigMap or Secret mount.
config_version_dir() {
    _m=${1:-$KD_CONFIG_DIR}
    if [ -L "$_m/..data" ]; then
        _d=$(readlink "$_m/..data" 2>/dev/null)
        case $_d in
            '') printf '%s\n' "$_m" ;;
            /*) printf '%s\n' "$_d" ;;
            *) printf '%s\n' "$_m/$_d" ;;
        esac
    else
        printf '%s\n' "$_m"
    fi
}

# shards_consistent <dir>: a configmeta split over several ConfigMaps (projected into one
# volume) is only used when all of them are of one version: the first lists "<count> <version>"
# in `shards`, every other one its version in `shard.<i>`.
shards_consistent() {
    [ -f "$1/shards" ] || return 0
    read -r _n _v < "$1/shards" || return 1
    case $_n in ''|*[!0-9]*) return 1 ;; esac
    _i=1
    while [ "$_i" -lt "$_n" ]; do
        [ "$(cat "$1/shard.$_i" 2>/dev/null)" = "$_v" ] || return 1
        _i=$((_i + 1))
    done
    return 0
}

# cat_chunks <dir> <key>: the value of <key>, which the renderer may have cut into <key>,
# <key>.1, <key>.2, ... (a value larger than one ConfigMap may hold).
cat_chunks() {
    cat "$1/$2" || return 1
    _c=1
    while [ -f "$1/$2.$_c" ]; do
        cat "$1/$2.$_c" || return 1
        _c=$((_c + 1))
    done
    return 0
}

# copy_version <dir>: copy members, connections and this pod's configmeta from one version.
copy_version() {
    rm -rf "$SNAP.new" && mkdir -p "$SNAP.new" && chmod 700 "$SNAP.new" || return 1  # may hold secret values
    shards_consistent "$1" || return 1
    cat_chunks "$1" members > "$SNAP.new/members" 2>/dev/null || return 1
    if [ -f "$1/connections" ]; then
        cat "$1/connections" > "$SNAP.new/connections" 2>/dev/null || return 1
    else
        : > "$SNAP.new/connections"
    fi
    if [ -f "$1/configmeta.json" ] && [ -f "$1/$KD_POD_NAME.node.json" ]; then
        cat_chunks "$1" configmeta.json > "$SNAP.new/shared.json" 2>/dev/null &&
            join_configmeta "$SNAP.new/shared.json" "$1/$KD_POD_NAME.node.json" > "$SNAP.new/configmeta.json" 2>/dev/null ||
            return 1
        if [ -f "$1/fills" ]; then
            fill_values "$1/fills" > "$SNAP.new/fills.values" &&
                apply_fills "$SNAP.new/configmeta.json" "$SNAP.new/fills.values" > "$SNAP.new/configmeta.filled" &&
                mv -f "$SNAP.new/configmeta.filled" "$SNAP.new/configmeta.json" || return 1
            # connected ConfigMaps, Secrets or clusters' secret_keys changed: a new connections
            # version (--reconnect)
            _sig=$(grep -E "^(configmaps$TAB|secrets$TAB|conn:)" "$SNAP.new/fills.values" | cksum)
            printf 'objects %s\n' "$_sig" >> "$SNAP.new/connections"
            rm -f "$SNAP.new/fills.values"
        fi
    fi
    return 0
}

# ---------------------------------------------------------------------------------------------
# values from the cluster (never in Git): the `fills` key of the configmeta ConfigMap lists, one
# TAB-separated line each, what replaces the placeholders "\u0000kd-fill:<id>" of configmeta.json:
#   secret_keys:<role> keys <dir> <role> <names>  {"<name>":"<value>",...} from the Secret mounted
#                                   at <dir>: key <role>.<name>, else <name>; none: the key is
#                                   left out (KubeDirector's omitempty)
#   conn:<cluster>:secret_keys:<role> keys <dir> <role> <names>  the same for a connected cluster's
#                                   role, from that cluster's Secret mounted at <dir>; a change
#                                   is a new connections version, like a connected object's
#   token:<role> token <dir> <pod>  the auth token of <pod>: key <pod> of the Secret at <dir>, else
#                                   the first 32 hex digits of sha256(<key seed> ":" <pod>), else ""
#   obj <configmaps|secrets> <type-json> <dir> <name-json> <labels-json> <annotations-json> <applied|mounted>
#                                   a connected object mounted at <dir>; objects of one kind are
#                                   grouped by type into connections.<kind> in KubeDirector's
#                                   shape, {"annotations","data","labels","metadata":{"name"}},
#                                   Secrets with base64 values (Go []byte).  kubelet gives an
#                                   optional volume of a missing object and one of an empty object
#                                   the same empty directory, so (object_data): a mount with keys
#                                   is the object; an empty one is an empty object ("data":null,
#                                   as Go marshals a nil map) when the cluster's own bundle applies
#                                   it ("applied") or it holds the key kdrender.dev-exists, and
#                                   else a missing object, left out as KubeDirector skips it.
# Values are never logged.

# json_file <file>: the file's content as a JSON string, escaped as Go's json.Marshal does.
json_file() {
    { cat "$1" && printf x; } | LC_ALL=C awk '
        BEGIN {
            for (i = 1; i < 32; i++) ctl[sprintf("%c", i)] = sprintf("\\u%04x", i)
            ctl["\t"] = "\\t"; ctl["\r"] = "\\r"
            ctl["<"] = "\\u003c"; ctl[">"] = "\\u003e"; ctl["&"] = "\\u0026"
            ctl["\\"] = "\\\\"; ctl["\""] = "\\\""
            special = "[<>&\"\\\\"
            for (i = 1; i < 32; i++) special = special sprintf("%c", i)
            special = special "]"
        }
        { line[NR] = $0 }
        END {
            sub(/x$/, "", line[NR])
            out = "\""
            for (n = 1; n <= NR; n++) {
                s = line[n]; r = ""
                while (match(s, special)) {  # linear in the line, escapes only where needed
                    r = r substr(s, 1, RSTART - 1) ctl[substr(s, RSTART, 1)]
                    s = substr(s, RSTART + 1)
                }
                r = r s
                gsub(/\342\200\250/, "\\u2028", r); gsub(/\342\200\251/, "\\u2029", r)
                out = out r (n < NR ? "\\n" : "")
            }
            print out "\""
        }'
}

# b64_file <file>: standard base64 on one line (coreutils or busybox base64, else openssl).
b64_file() {
    if command -v base64 > /dev/null 2>&1; then
        base64 < "$1" | tr -d '\n'
    else
        openssl base64 -A < "$1"
    fi
}

# data_json <mount> <text|base64>: {"<key>":<value>,...} of a mounted ConfigMap or Secret (keys
# sorted as Go sorts map keys; the marker key kdrender.dev-exists is not data); returns 1 when the mount
# has no keys.
data_json() {
    _dd=$(config_version_dir "$1")
    _keys=$(ls -A "$_dd" 2>/dev/null | LC_ALL=C sort)
    _out= _sep=
    for _k in $_keys; do
        case $_k in ..*|"$OBJ_MARKER") continue ;; esac
        [ -f "$_dd/$_k" ] || continue
        if [ "$2" = base64 ]; then
            _v="\"$(b64_file "$_dd/$_k")\""
        else
            _v=$(json_file "$_dd/$_k")
        fi
        _out="$_out$_sep\"$_k\":$_v"
        _sep=,
    done
    [ -n "$_sep" ] || return 1
    printf '{%s}' "$_out"
}

# object_data <mount> <text|base64> <applied|mounted>: the "data" of a connected object (JSON), or
# status 1 when the object is missing (see "values from the cluster" above).
OBJ_MARKER=kdrender.dev-exists
object_data() {
    data_json "$1" "$2" && return 0
    if [ "$3" = applied ] || [ -f "$(config_version_dir "$1")/$OBJ_MARKER" ]; then
        printf null
        return 0
    fi
    return 1
}

# fill_values <fills>: "<id>TAB<json>" per placeholder (empty json: leave the key out).
fill_values() {
    while IFS="$TAB" read -r _id _how _a _b _c <&5; do
        case $_how in
            keys)
                _dd=$(config_version_dir "$R$_a") _out= _sep=
                for _k in $_c; do
                    if [ -f "$_dd/$_b.$_k" ]; then _f=$_dd/$_b.$_k; elif [ -f "$_dd/$_k" ]; then _f=$_dd/$_k; else continue; fi
                    _out="$_out$_sep\"$_k\":$(json_file "$_f")"
                    _sep=,
                done
                if [ -n "$_sep" ]; then printf '%s\t{%s}\n' "$_id" "$_out"; else printf '%s\t\n' "$_id"; fi
                ;;
            token)
                _dd=$(config_version_dir "$R$_a") _tok=
                if [ -f "$_dd/$_b" ]; then
                    _tok=$(cat "$_dd/$_b")
                elif [ -f "$_dd/seed" ]; then
                    _tok=$({ cat "$_dd/seed"; printf ':%s' "$_b"; } | sha256_hex | cut -c1-32)
                fi
                case $_tok in *[!A-Za-z0-9._~+/=-]*) _tok= ;; esac
                printf '%s\t"%s"\n' "$_id" "$_tok"
                ;;
        esac
    done 5< "$1"
    for _what in configmaps secrets; do
        _enc=text
        [ "$_what" = secrets ] && _enc=base64
        _out= _type=
        while IFS="$TAB" read -r _t _w _ty _dir _name _labels _notes _exists <&5; do
            [ "$_t" = obj ] && [ "$_w" = "$_what" ] || continue
            _data=$(object_data "$R$_dir" "$_enc" "$_exists") || continue
            _obj="{\"annotations\":$_notes,\"data\":$_data,\"labels\":$_labels,\"metadata\":{\"name\":$_name}}"
            if [ "$_ty" = "$_type" ]; then
                _out="$_out,$_obj"
            else
                _out="$_out${_type:+],}$_ty:[$_obj"
                _type=$_ty
            fi
        done 5< "$1"
        printf '%s\t{%s}\n' "$_what" "$_out${_type:+]}"
    done
}

# apply_fills <configmeta> <values>: the document with every placeholder replaced.
apply_fills() {
    awk -v vals="$2" '
        BEGIN {
            while ((getline l < vals) > 0) { t = index(l, "\t"); id = substr(l, 1, t - 1); v[id] = substr(l, t + 1); ids[++n] = id }
            close(vals)
        }
        { doc = doc (NR > 1 ? "\n" : "") $0 }
        END {
            for (k = 1; k <= n; k++) {
                ph = "\"\\u0000kd-fill:" ids[k] "\""
                out = ""; rest = doc
                while ((i = index(rest, ph)) > 0) {
                    pre = substr(rest, 1, i - 1)
                    if (v[ids[k]] == "") sub(/,"[A-Za-z_]+":$/, "", pre)
                    out = out pre v[ids[k]]
                    rest = substr(rest, i + length(ph))
                }
                doc = out rest
            }
            printf "%s", doc
        }' "$1"
}

# take_snapshot: copy one consistent version of members, connections and this pod's configmeta
# into $SNAP.  kubelet swaps ..data and then deletes the old version directory, so the copy is
# only kept if ..data still points to the directory it was read from.  Returns 1 if no
# consistent copy could be made (after a few quick attempts).
take_snapshot() {
    _try=0
    while [ "$_try" -lt 5 ]; do
        _try=$((_try + 1))
        _ver=$(config_version_dir)
        if copy_version "$_ver" && [ "$(config_version_dir)" = "$_ver" ]; then
            rm -rf "$SNAP" && mv "$SNAP.new" "$SNAP"
            return $?
        fi
        rm -rf "$SNAP.new"
        sleep 1
    done
    return 1
}

# join_configmeta <shared> <node>: insert "node":<node> where KubeDirector's json.Marshal puts
# it: after the top-level "cluster" object, before the top-level "connections".  In the compact
# shared document the top-level "cluster" ends with the config_metadata refkey followed directly
# by ,"connections": (connected clusters' copies have "node":null in between), so that sequence
# is the anchor.  Without it: append "node" when there is no "connections" at all, else insert
# before the first ,"connections": (a JSON string cannot contain that byte sequence).
join_configmeta() {
    awk -v nodefile="$2" '
        BEGIN { node = ""; while ((getline l < nodefile) > 0) node = node l; close(nodefile) }
        { doc = doc (NR > 1 ? "\n" : "") $0 }
        END {
            sub(/[ \t\r\n]+$/, "", doc)
            anchor = "[\"nodegroups\",\"1\",\"config_metadata\"]}}}"
            i = index(doc, anchor ",\"connections\":")
            if (i > 0) i += length(anchor)
            else i = index(doc, ",\"connections\":")
            if (i > 0) printf "%s,\"node\":%s%s", substr(doc, 1, i - 1), node, substr(doc, i)
            else printf "%s,\"node\":%s}", substr(doc, 1, length(doc) - 1), node
        }' "$1"
}

# self_line <members-file>: "<role> <fqdn>" of this pod, if listed.
self_line() {
    awk -v p="$KD_POD_NAME." 'NF >= 2 && index($2, p) == 1 { print $1 " " $2; exit }' "$1" 2>/dev/null
}

# write_configmeta: replace /etc/guestconfig/configmeta.json with the snapshot's copy.
write_configmeta() {
    [ -f "$SNAP/configmeta.json" ] || { log "no configmeta for $KD_POD_NAME in $KD_CONFIG_DIR"; return 1; }
    cat "$SNAP/configmeta.json" > "$CONFIGMETA.kd-tmp" && mv -f "$CONFIGMETA.kd-tmp" "$CONFIGMETA"
}

save_file() { # save_file <src> <dest>
    cat "$1" > "$2.kd-tmp" && mv -f "$2.kd-tmp" "$2"
}

# valid_json <file>: the file holds one JSON value (RFC 8259 syntax; awk only, as images may
# lack python and jq).  Strings, then numbers and literals become placeholders, and nested
# objects and arrays are reduced from the inside out until one value is left.
valid_json() {
    LC_ALL=C awk '
        { doc = doc $0 "\n" }
        END {
            str = "\"([^\"\\\\\n]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f])*\""
            rest = doc
            gsub(str, "", rest)
            if (rest ~ /[^][{},:0-9.eE+trufalsn \t\r\n-]/) exit 1
            gsub(str "[ \t\r\n]*:", "<", doc)
            gsub(str, "=", doc)
            gsub(/-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/, "=", doc)
            gsub(/true|false|null/, "=", doc)
            gsub(/[ \t\r\n]+/, "", doc)
            if (doc ~ /[^][{}<=;,]/) exit 1
            do {
                before = doc
                gsub(/<=/, ";", doc)
                gsub(/\{(;(,;)*)?\}/, "=", doc)
                gsub(/\[(=(,=)*)?\]/, "=", doc)
            } while (doc != before)
            exit (doc == "=") ? 0 : 1
        }' "$1"
}

# ---------------------------------------------------------------------------------------------
# setup steps

# fetch <url> <out>: curl -L --fail -o <out> -- <url>, up to KD_FETCH_ATTEMPTS times with
# exponential backoff; curl's output and the retry notes go to stdout (callers capture it for
# relay).  Returns curl's last exit status.
fetch() {
    _ft=1
    _fw=$KD_FETCH_BACKOFF
    while :; do
        curl -L --fail -o "$2" -- "$1" < /dev/null 2>&1
        _frc=$?
        [ "$_frc" = 0 ] && return 0
        [ "$_ft" -ge "$KD_FETCH_ATTEMPTS" ] && return "$_frc"
        printf 'download of %s failed (exit status %s, attempt %s of %s); retrying in %ss\n' \
            "$1" "$_frc" "$_ft" "$KD_FETCH_ATTEMPTS" "$_fw"
        sleep "$_fw"
        _ft=$((_ft + 1))
        _fw=$((_fw * 2))
    done
}

do_injections() {
    _inj=$KD_AGENT_DIR/$ROLE.injections
    [ -f "$_inj" ] || return 0
    while IFS= read -r _line <&3 || [ -n "$_line" ]; do
        [ -n "$_line" ] || continue
        _src=$(printf '%s\n' "$_line" | cut -f1)
        _dir=$(printf '%s\n' "$_line" | cut -f2)
        _mode=$(printf '%s\n' "$_line" | cut -f3)
        _owner=$(printf '%s\n' "$_line" | cut -f4)
        _group=$(printf '%s\n' "$_line" | cut -f5)
        case $_line in *"$TAB"*) ;; *) _dir= ;; esac
        if [ -z "$_src" ] || [ -z "$_dir" ]; then
            INJECT_ERROR="malformed injection line: $_line"
            return 1
        fi
        _base=$(basename "$_src")
        case "$_base:$_owner:$_group" in
            -*|*:-*)
                INJECT_ERROR="file injection from $_src: a file name, owner or group starting with '-' is refused"
                return 1 ;;
        esac
        _d=$R${_dir%/}
        [ -n "$_d" ] || _d=/
        _dest=${_d%/}/$_base
        _cmd="mkdir -p $_d && cd $_d && curl -L --fail -o $_dest -- $_src"
        [ -n "$_mode" ] && _cmd="$_cmd && chmod $_mode $_dest"
        [ -n "$_owner" ] && _cmd="$_cmd && chown -- $_owner $_dest"
        [ -n "$_group" ] && _cmd="$_cmd && chgrp -- $_group $_dest"
        log "file injection: $_cmd"
        (
            mkdir -p "$_d" && cd "$_d" && fetch "$_src" "$_dest" || exit $?
            if [ -n "$_mode" ]; then chmod "$_mode" "$_dest" || exit $?; fi
            if [ -n "$_owner" ]; then chown -- "$_owner" "$_dest" || exit $?; fi
            if [ -n "$_group" ]; then chgrp -- "$_group" "$_dest" || exit $?; fi
        ) < /dev/null > "$CMD_OUT" 2>&1
        _rc=$?
        relay
        if [ "$_rc" -ne 0 ]; then
            INJECT_ERROR="file injection ($_dest) failed with exit status $_rc"
            return 1
        fi
    done 3< "$_inj"
    return 0
}

legacy_links() {
    log "legacy links: ln -sf /usr/local/bin/configcli /usr/bin/bdvcli && ln -sf /usr/local/bin/configcli /usr/bin/bd_vcli && ln -sf /usr/local/bin/configcli /usr/bin/configcli && ln -sf /usr/local/bin/ccli /usr/bin/ccli && ln -sf /usr/local/bin/configmacro /usr/bin/configmacro"
    {
        ln -sf "$R/usr/local/bin/configcli" "$R/usr/bin/bdvcli" &&
            ln -sf "$R/usr/local/bin/configcli" "$R/usr/bin/bd_vcli" &&
            ln -sf "$R/usr/local/bin/configcli" "$R/usr/bin/configcli" &&
            ln -sf "$R/usr/local/bin/ccli" "$R/usr/bin/ccli" &&
            ln -sf "$R/usr/local/bin/configmacro" "$R/usr/bin/configmacro"
    } < /dev/null > "$CMD_OUT" 2>&1
    _rc=$?
    relay
    return $_rc
}

# sha256_hex: the hex sha256 of stdin (coreutils or busybox sha256sum, else openssl).
sha256_hex() {
    if command -v sha256sum > /dev/null 2>&1; then
        sha256sum 2>/dev/null | awk '{ print $1 }'
    elif command -v openssl > /dev/null 2>&1; then
        openssl dgst -sha256 2>/dev/null | awk '{ print $NF }'
    fi
}

sha256_of() { # sha256_of <file>
    sha256_hex < "$1"
}

install_configcli() {
    if [ -e "$R/usr/local/bin/configcli" ] || [ -e "$R/usr/bin/configcli" ]; then
        log "configcli already installed: skipped"
        return 0
    fi
    if is_true "$KD_NEW_LAYOUT"; then _p=/usr/local; _new=--new; else _p=/usr; _new=; fi
    if [ -f "$KD_AGENT_DIR/configcli.tgz" ]; then
        # air-gapped: the tarball came with the bundle (binaryData of the kd-agent ConfigMap)
        log "configcli: cp /etc/kd/agent/configcli.tgz /tmp/configcli.tgz (shipped in the bundle, no download)"
        cat "$KD_AGENT_DIR/configcli.tgz" > "$R/tmp/configcli.tgz" ||
            { CONFIGCLI_ERROR="cannot copy the bundled configcli.tgz"; return 1; }
    else
        log "configcli: curl -L --fail -o /tmp/configcli.tgz -- $KD_CONFIGCLI_URL"
        fetch "$KD_CONFIGCLI_URL" "$R/tmp/configcli.tgz" > "$CMD_OUT" 2>&1
        _rc=$?
        relay
        [ "$_rc" = 0 ] || { CONFIGCLI_ERROR="configcli download failed (curl exit status $_rc)"; return "$_rc"; }
    fi
    if [ -n "${KD_CONFIGCLI_SHA256:-}" ]; then
        _sum=$(sha256_of "$R/tmp/configcli.tgz")
        if [ "$_sum" != "$KD_CONFIGCLI_SHA256" ]; then
            rm -f "$R/tmp/configcli.tgz"
            CONFIGCLI_ERROR="configcli.tgz does not match the pinned sha256 ${KD_CONFIGCLI_SHA256} (got ${_sum:-no digest: no sha256sum or openssl}); refused"
            log "$CONFIGCLI_ERROR"
            return 1
        fi
        log "configcli: sha256 $KD_CONFIGCLI_SHA256 verified"
    fi
    log "configcli: cd /tmp && tar xzf configcli.tgz && chmod u+x /tmp/configcli-*/install && /tmp/configcli-*/install${_new:+ $_new} && rm -rf /tmp/configcli-* && rm -f /tmp/configcli.tgz && ln -sf $_p/bin/configcli $_p/bin/bdvcli && ln -sf $_p/bin/configcli $_p/bin/bd_vcli"
    # shellcheck disable=SC2211  # KubeDirector's command runs the install script through a glob
    (
        cd "$R/tmp" && tar xzf configcli.tgz &&
            chmod u+x "$R"/tmp/configcli-*/install && "$R"/tmp/configcli-*/install $_new &&
            rm -rf "$R"/tmp/configcli-* && rm -f "$R/tmp/configcli.tgz" &&
            ln -sf "$R$_p/bin/configcli" "$R$_p/bin/bdvcli" &&
            ln -sf "$R$_p/bin/configcli" "$R$_p/bin/bd_vcli"
    ) < /dev/null > "$CMD_OUT" 2>&1
    _rc=$?
    relay
    return $_rc
}

startscript_exists() {
    for _s in "$GC_OPT"/*/startscript; do
        [ -e "$_s" ] && return 0
    done
    return 1
}

install_package() {
    if startscript_exists; then
        log "setup package already present (/opt/guestconfig/*/startscript): skipped"
        return 0
    fi
    log "setup package: mkdir -p /opt/guestconfig && chmod 700 /opt/guestconfig && cd /opt/guestconfig && rm -rf /opt/guestconfig/* && curl -L --fail -o appconfig.tgz -- $KD_PACKAGE_URL && tar xzf appconfig.tgz && chmod u+x /opt/guestconfig/*/startscript && rm -rf /opt/guestconfig/appconfig.tgz"
    # shellcheck disable=SC2115  # GC_OPT always ends in /opt/guestconfig
    (
        mkdir -p "$GC_OPT" && chmod 700 "$GC_OPT" && cd "$GC_OPT" &&
            rm -rf "$GC_OPT"/* &&
            fetch "$KD_PACKAGE_URL" appconfig.tgz &&
            tar xzf appconfig.tgz &&
            chmod u+x "$GC_OPT"/*/startscript &&
            rm -rf "$GC_OPT/appconfig.tgz"
    ) < /dev/null > "$CMD_OUT" 2>&1
    _rc=$?
    relay
    return $_rc
}

# run_startscript <args...>: /opt/guestconfig/*/startscript <args>, with the glob expanded by
# sh exactly as in KubeDirector's exec'd scripts.
run_startscript() {
    sh -c '"$0"/opt/guestconfig/*/startscript "$@"' "$R" "$@" < /dev/null > "$CMD_OUT" 2>&1
    _rc=$?
    relay
    return $_rc
}

run_configure() {
    log "configure: rm -f /opt/guestconfig/configure.* && printf '%s=' $CONTAINER_ID > /opt/guestconfig/configure.status"
    rm -f "$GC_OPT"/configure.* && printf '%s=' "$CONTAINER_ID" > "$STATUS_FILE" ||
        fail "execution of app config failed: cannot write /opt/guestconfig/configure.status"
    _limit=$KD_CONFIGURE_TIMEOUT
    _how=none
    if [ "$_limit" -gt 0 ]; then
        # busybox before 1.30 has `timeout -t SECS`, and some images have no timeout at all
        if timeout -k 1 5 true < /dev/null > /dev/null 2>&1; then _how=timeout; else _how=watchdog; fi
        log "configure: time limit ${_limit}s ($_how)"
    fi
    rm -f "$TIMEOUT_MARK"
    log "configure: /opt/guestconfig/*/startscript --configure 2>/opt/guestconfig/configure.stderr 1>/opt/guestconfig/configure.stdout; printf '%s' \$? >> /opt/guestconfig/configure.status"
    # A separate sh, as KubeDirector's nohup sh -c: if the agent dies, the status still gets its rc.
    # shellcheck disable=SC2016  # expanded by that sh
    sh -c 'R=$0 T=$1 HOW=$2 MARK=$3
        case $HOW in
            timeout)
                timeout -k 10 "$T" "$R"/opt/guestconfig/*/startscript --configure 2>"$R"/opt/guestconfig/configure.stderr 1>"$R"/opt/guestconfig/configure.stdout
                rc=$? ;;
            watchdog)
                "$R"/opt/guestconfig/*/startscript --configure 2>"$R"/opt/guestconfig/configure.stderr 1>"$R"/opt/guestconfig/configure.stdout &
                p=$!
                (
                    i=0
                    while [ "$i" -lt "$T" ]; do sleep 1; kill -0 "$p" 2>/dev/null || exit 0; i=$((i + 1)); done
                    : > "$MARK"
                    kill -TERM "$p" 2>/dev/null
                    i=0
                    while [ "$i" -lt 10 ]; do sleep 1; kill -0 "$p" 2>/dev/null || exit 0; i=$((i + 1)); done
                    kill -KILL "$p" 2>/dev/null
                ) &
                wait "$p"
                rc=$?
                wait
                [ -f "$MARK" ] && rc=124 ;;
            *)
                "$R"/opt/guestconfig/*/startscript --configure 2>"$R"/opt/guestconfig/configure.stderr 1>"$R"/opt/guestconfig/configure.stdout
                rc=$? ;;
        esac
        printf "%s" "$rc" >> "$R"/opt/guestconfig/configure.status' "$R" "$_limit" "$_how" "$TIMEOUT_MARK" < /dev/null > "$CMD_OUT" 2>&1
    relay
    _status=$(cat "$STATUS_FILE" 2>/dev/null)
    _rc=${_status##*=}
    log "configure finished: configure.status is $_status"
    if [ "$_rc" = 0 ]; then
        mark_ready
    elif [ "$_rc" = 124 ] && [ "$_how" != none ]; then
        fail "configure timed out after ${_limit}s"
    else
        fail "configure failed with exit status $_rc"
    fi
}

full_setup() {
    # step 4
    if is_true "$KD_SYSTEMD"; then
        log "waiting for systemd: systemctl status systemd-journald > /tmp/journald-status.out 2>&1"
        until systemctl status systemd-journald > "$R/tmp/journald-status.out" 2>&1 < /dev/null; do
            stop_requested && { log "stop requested while waiting for systemd"; exit 0; }
            log "systemd not yet responsive"
            nap
        done
        log "systemd is responsive"
    fi
    # step 5 (while Argo CD or Flux is still applying a configmeta split over several
    # ConfigMaps, the projection mixes versions: wait for a consistent one)
    until take_snapshot; do
        [ "$KD_ONESHOT" = 1 ] && fail "execution of app config failed: cannot read $KD_CONFIG_DIR"
        stop_requested && { log "stop requested while waiting for configmeta"; exit 0; }
        log "no consistent version of $KD_CONFIG_DIR yet; waiting"
        nap
    done
    [ -f "$SNAP/configmeta.json" ] ||
        fail "execution of app config failed: no configmeta for $KD_POD_NAME in $KD_CONFIG_DIR"
    valid_json "$SNAP/configmeta.json" ||
        fail "execution of app config failed: configmeta for $KD_POD_NAME is not valid JSON"
    if is_true "$KD_NEW_LAYOUT"; then
        log "configmeta: mkdir -p /etc/guestconfig && chmod 700 /etc/guestconfig && write /etc/guestconfig/configmeta.json"
        mkdir -p "$GC_ETC" && chmod 700 "$GC_ETC" ||
            fail "execution of app config failed: cannot create /etc/guestconfig"
    else
        log "configmeta: mkdir -p /etc/guestconfig && write /etc/guestconfig/configmeta.json"
        mkdir -p "$GC_ETC" || fail "execution of app config failed: cannot create /etc/guestconfig"
    fi
    write_configmeta || fail "execution of app config failed: cannot write /etc/guestconfig/configmeta.json"
    save_file "$SNAP/members" "$SAVED_MEMBERS" && save_file "$SNAP/connections" "$SAVED_CONNECTIONS" ||
        fail "execution of app config failed: cannot write /etc/guestconfig/kd-members"
    # step 6
    CONFIGCLI_ERROR="configcli setup failed"
    install_configcli || fail "execution of app config failed: $CONFIGCLI_ERROR"
    # step 7
    if is_true "$KD_NEW_LAYOUT"; then
        legacy_links || fail "execution of app config failed: configcli legacy links failed"
    fi
    # step 8
    install_package || fail "execution of app config failed: app config setup failed"
    # step 9
    if ! event_enabled configure; then
        log "eventList lacks configure: configure not run"
        mark_ready
        return
    fi
    run_configure
}

# ---------------------------------------------------------------------------------------------
# watch loop

# fqdns_minus <role> <a> <b>: csv of <role>'s fqdns listed in file a but not in file b, in a's
# order, without this member's own fqdn.
fqdns_minus() {
    awk -v r="$1" -v self="$SELF_FQDN" '
        FILENAME == ARGV[1] { if (NF >= 2 && $1 == r) seen[$2] = 1; next }
        NF >= 2 && $1 == r && !($2 in seen) && $2 != self && !($2 in done) {
            done[$2] = 1; out = out (out == "" ? "" : ",") $2
        }
        END { print out }' "$3" "$2"
}

# apply_delta <file> <del|add> <role> <csv>: record a processed change in the working state.
apply_delta() {
    awk -v op="$2" -v r="$3" -v csv="$4" '
        BEGIN { n = split(csv, f, ","); for (i = 1; i <= n; i++) set[f[i]] = 1 }
        NF >= 2 && op == "del" && $1 == r && ($2 in set) { next }
        { print }
        END { if (op == "add") for (i = 1; i <= n; i++) print r " " f[i] }' "$1" > "$1.new" &&
        mv -f "$1.new" "$1"
}

# peer_ready <fqdn>: the peer's name resolves and, with KD_READY_DOMAIN (the readiness Service,
# a headless Service without publishNotReadyAddresses), its address has a name under that
# Service too, which DNS serves only while the peer is Ready, i.e. configured.
peer_ready() {
    _ip=$(getent hosts "$1" 2>/dev/null < /dev/null | awk 'NR == 1 { print $1 }')
    [ -n "$_ip" ] || return 1
    [ -n "${KD_READY_DOMAIN:-}" ] || return 0
    getent hosts "$(printf '%s' "$_ip" | tr '.:' '--').$KD_READY_DOMAIN" > /dev/null 2>&1 < /dev/null
}

# wait_ready <csv>: every new peer is ready (peer_ready), waiting KD_PEER_WAIT_SECONDS at most.
wait_ready() {
    _waited=0
    for _f in $(printf '%s\n' "$1" | tr ',' ' '); do
        until peer_ready "$_f"; do
            if [ "$_waited" -ge "$KD_PEER_WAIT_SECONDS" ] || stop_requested; then
                if [ -n "$_ip" ]; then
                    log "new peer $_f ($_ip) is not ready after ${_waited}s (no address under $KD_READY_DOMAIN)"
                else
                    log "new peer $_f does not resolve after ${_waited}s"
                fi
                return 1
            fi
            _waited=$((_waited + 1))
            sleep 1
        done
    done
    [ "$_waited" = 0 ] || log "new peers ready after ${_waited}s"
    return 0
}

# notify_role <event> <role> <fqdns>: run `startscript --<event>` for one role's changed members
# (or skip it when the role's eventList lacks the event); returns 1 when it is to be retried.
notify_role() {
    if ! event_enabled "$1"; then
        log "eventList lacks $1: not notifying $3 (role $2)"
        return 0
    fi
    if [ "$1" = addnodes ] && ! wait_ready "$3"; then
        log "notify --$1 for role $2 postponed: peers not ready; will retry"
        return 1
    fi
    log "notify: startscript --$1 --nodegroup 1 --role $2 --fqdns $3"
    run_startscript "--$1" --nodegroup 1 --role "$2" --fqdns "$3" && return 0
    log "notify --$1 for role $2 failed (exit status $?); will retry"
    return 1
}

process_members() {
    _work=$RUN_DIR/members.work
    cat "$SAVED_MEMBERS" > "$_work" || return 1
    _failed=0
    _roles=$(awk 'NF >= 2 { print $1 }' "$SAVED_MEMBERS" "$SNAP/members" | LC_ALL=C sort -u)
    # all removals first, then all additions, roles in sorted order
    for _event in delnodes addnodes; do
        for _r in $_roles; do
            if [ "$_event" = delnodes ]; then
                _op=del _changed=$(fqdns_minus "$_r" "$SAVED_MEMBERS" "$SNAP/members")
            else
                _op=add _changed=$(fqdns_minus "$_r" "$SNAP/members" "$SAVED_MEMBERS")
            fi
            [ -n "$_changed" ] || continue
            if notify_role "$_event" "$_r" "$_changed"; then
                apply_delta "$_work" "$_op" "$_r" "$_changed"
            else
                _failed=1
            fi
        done
    done
    if [ "$_failed" = 0 ]; then
        save_file "$SNAP/members" "$SAVED_MEMBERS"
    else
        LC_ALL=C sort "$_work" > "$_work.sorted" && save_file "$_work.sorted" "$SAVED_MEMBERS"
    fi
    rm -f "$_work" "$_work.sorted"
}

process_connections() {
    log "connections changed: /opt/guestconfig/*/startscript --reconnect >>/opt/guestconfig/configure.stdout 2>>/opt/guestconfig/configure.stderr"
    sh -c '"$0"/opt/guestconfig/*/startscript --reconnect >>"$0"/opt/guestconfig/configure.stdout 2>>"$0"/opt/guestconfig/configure.stderr' "$R" < /dev/null > "$CMD_OUT" 2>&1
    _rc=$?
    relay
    if [ "$_rc" = 0 ]; then
        save_file "$SNAP/connections" "$SAVED_CONNECTIONS"
        log "reconnect done"
    else
        log "reconnect failed (exit status $_rc); will retry"
    fi
}

watch_once() {
    if ! take_snapshot; then
        log "cannot read a consistent version of $KD_CONFIG_DIR (members missing?); will retry"
        return
    fi
    if [ -z "$(self_line "$SNAP/members")" ]; then
        if [ "$REMOVED_LOGGED" = 0 ]; then
            log "$KD_POD_NAME is no longer in members: member is being removed; doing nothing"
            # remembered with the member's state (on its volume, if any) for a later scale-up
            : > "$REMOVED_MARK" 2>/dev/null
            REMOVED_LOGGED=1
        fi
        return
    fi
    REMOVED_LOGGED=0
    rm -f "$REMOVED_MARK"
    if [ ! -f "$SAVED_MEMBERS" ]; then
        # configured by an earlier container whose saved state is gone: start from here.
        save_file "$SNAP/members" "$SAVED_MEMBERS" && save_file "$SNAP/connections" "$SAVED_CONNECTIONS"
        log "no saved member list: recorded the current one"
    fi
    [ -f "$SAVED_CONNECTIONS" ] || save_file "$SNAP/connections" "$SAVED_CONNECTIONS"
    if [ ! -f "$SNAP/configmeta.json" ]; then
        # KubeDirector always pushes the new configmeta before notifying: no configmeta, no notify.
        log "no configmeta for $KD_POD_NAME in $KD_CONFIG_DIR; will retry"
        return
    fi
    if ! valid_json "$SNAP/configmeta.json"; then
        log "configmeta for $KD_POD_NAME in $KD_CONFIG_DIR is not valid JSON: not applied; will retry"
        return
    fi
    if ! same_content "$SNAP/configmeta.json" "$CONFIGMETA"; then
        if write_configmeta; then
            log "configmeta changed: updated /etc/guestconfig/configmeta.json"
        else
            log "cannot update /etc/guestconfig/configmeta.json; will retry"
            return
        fi
    fi
    if ! same_content "$SNAP/connections" "$SAVED_CONNECTIONS"; then
        process_connections
    fi
    if ! same_content "$SNAP/members" "$SAVED_MEMBERS"; then
        log "members changed"
        process_members
    fi
}

# note_version <mount>: remember which version directory the mount's ..data points to (a mount
# without ..data, e.g. a plain directory in tests, is only re-read by the periodic pass).
note_version() {
    [ -L "$1/..data" ] || return 0
    WATCH_MARKS="$WATCH_MARKS $1/..data=$(config_version_dir "$1")"
}

# note_versions: the versions of the configmeta mount and of every mount its `fills` reads
# (connected ConfigMaps and Secrets, secret_keys, tokens), taken before a pass reads them, so a
# version that lands during the pass is seen as new afterwards.
note_versions() {
    WATCH_MARKS=
    note_version "$KD_CONFIG_DIR"
    [ -f "$KD_CONFIG_DIR/fills" ] || return 0
    while IFS="$TAB" read -r _n1 _n2 _n3 _n4 _nrest; do
        case $_n1:$_n2 in
            obj:*) note_version "$R$_n4" ;;
            *:keys|*:token) note_version "$R$_n3" ;;
        esac
    done < "$KD_CONFIG_DIR/fills"
}

# versions_changed: some noted mount's ..data no longer points to the noted version directory
# (kubelet swaps ..data, then deletes the old directory).  Shell builtins only: no process.
versions_changed() {
    for _m in $WATCH_MARKS; do
        [ "${_m%%=*}" -ef "${_m#*=}" ] || return 0
    done
    return 1
}

# wait_for_change: sleep until kubelet has swapped in a new version of a noted mount (checked
# every second) or KD_POLL_SECONDS have passed (the periodic pass: retries, plain directories).
wait_for_change() {
    _slept=0
    while [ "$_slept" -lt "$KD_POLL_SECONDS" ]; do
        sleep 1
        _slept=$((_slept + 1))
        stop_requested && return 0
        if versions_changed; then
            log "new version of a mounted ConfigMap or Secret (after ${_slept}s)"
            return 0
        fi
    done
}

watch_loop() {
    log "watching $KD_CONFIG_DIR: a new version within 1s, a full pass at least every ${KD_POLL_SECONDS}s"
    while :; do
        stop_requested && { log "stop requested: exiting"; return 0; }
        note_versions
        watch_once
        [ "$KD_ONESHOT" = 1 ] && { log "oneshot: exiting"; return 0; }
        stop_requested && { log "stop requested: exiting"; return 0; }
        wait_for_change
    done
}

# ---------------------------------------------------------------------------------------------
# main

mkdir -p "$RUN_DIR" || { log "cannot create $RUN_DIR"; exit 1; }

if [ -f "$PID_FILE" ]; then
    _other=$(cat "$PID_FILE" 2>/dev/null)
    if [ -n "$_other" ] && [ "$_other" != "$$" ] && kill -0 "$_other" 2>/dev/null &&
        grep -q kd-agent "/proc/$_other/cmdline" 2>/dev/null; then
        log "another kd-agent (pid $_other) is running: exiting"
        exit 0
    fi
fi
printf '%s\n' "$$" > "$PID_FILE"
trap 'rm -f "$PID_FILE"' EXIT
trap 'exit 143' TERM INT HUP

rm -f "$READY_FILE"
set_state starting
log "starting: pod $KD_POD_NAME, root '${R}', config $KD_CONFIG_DIR, agent dir $KD_AGENT_DIR"
ensure_container_id
log "container id $CONTAINER_ID"

# find our role
while :; do
    _line=$(self_line "$KD_CONFIG_DIR/members")
    [ -n "$_line" ] && break
    if [ "$KD_ONESHOT" = 1 ]; then
        set_state "waiting: $KD_POD_NAME not in $KD_CONFIG_DIR/members"
        log "$KD_POD_NAME not found in $KD_CONFIG_DIR/members (oneshot): exiting"
        exit 1
    fi
    stop_requested && { log "stop requested: exiting"; exit 0; }
    log "$KD_POD_NAME not found in $KD_CONFIG_DIR/members yet; waiting"
    nap
done
ROLE=${_line%% *}
SELF_FQDN=${_line#* }
log "role $ROLE, fqdn $SELF_FQDN"

[ -f "$KD_AGENT_DIR/$ROLE.env" ] || fail "no agent settings for role $ROLE ($KD_AGENT_DIR/$ROLE.env)"
KD_PACKAGE_URL=
KD_NEW_LAYOUT=false
KD_EVENTS=all
KD_SYSTEMD=false
KD_CONFIGCLI_URL=
KD_CONFIGURE_TIMEOUT=
KD_CONFIGCLI_SHA256=
KD_WHEN_SCALED=Retain
# shellcheck disable=SC1090
. "$KD_AGENT_DIR/$ROLE.env"
case $KD_POLL_SECONDS in ''|*[!0-9]*) KD_POLL_SECONDS=10 ;; esac
case $KD_PEER_WAIT_SECONDS in ''|*[!0-9]*) KD_PEER_WAIT_SECONDS=600 ;; esac
case ${KD_CONFIGURE_TIMEOUT:-} in ''|*[!0-9]*) KD_CONFIGURE_TIMEOUT=0 ;; esac
case $KD_FETCH_ATTEMPTS in ''|0|*[!0-9]*) KD_FETCH_ATTEMPTS=5 ;; esac
case $KD_FETCH_BACKOFF in ''|*[!0-9]*) KD_FETCH_BACKOFF=2 ;; esac
log "settings: package '$KD_PACKAGE_URL', new layout $KD_NEW_LAYOUT, events '$KD_EVENTS', systemd $KD_SYSTEMD, poll ${KD_POLL_SECONDS}s"

# step 1
INJECT_ERROR=
do_injections || fail "failed requested file injections: $INJECT_ERROR"

# step 2
if [ -z "$KD_PACKAGE_URL" ]; then
    log "role $ROLE has no setup package"
    mark_ready
    exit 0
fi

set_state configuring
# step 3
configured=0
while [ -f "$STATUS_FILE" ]; do
    _status=$(cat "$STATUS_FILE")
    case $_status in
        *=*) ;;
        *) fail "configure failed with malformed status file" ;;
    esac
    _sid=${_status%=*}
    _rc=${_status##*=}
    if [ -z "$_rc" ]; then
        if [ "$_sid" = "$CONTAINER_ID" ]; then
            stop_requested && { log "stop requested: exiting"; exit 0; }
            log "configure.status '$_status': configure still running in this container; waiting"
            nap
            continue
        fi
        log "configure.status '$_status': configure interrupted by a container restart; starting over"
        rm -f "$STATUS_FILE"
        break
    fi
    if [ "$_rc" = 0 ] && [ -f "$REMOVED_MARK" ] && [ "$_sid" != "$CONTAINER_ID" ] && [ "$KD_WHEN_SCALED" = Delete ]; then
        log "configure.status '$_status': member returns after a scale-down; whenScaled is Delete: configured as a new member"
        rm -f "$STATUS_FILE" "$SAVED_MEMBERS" "$SAVED_CONNECTIONS" "$REMOVED_MARK"
        break
    fi
    if [ "$_rc" = 0 ] && [ -f "$REMOVED_MARK" ] && [ "$_sid" != "$CONTAINER_ID" ]; then
        log "configure.status '$_status': member returns after a scale-down; whenScaled is Retain: it keeps its state and is notified of what changed while it was away"
        rm -f "$REMOVED_MARK"
    fi
    if [ "$_rc" = 0 ]; then
        if [ "$_sid" != "$CONTAINER_ID" ] && is_true "$KD_NEW_LAYOUT"; then
            log "configure.status '$_status': configured by an earlier container; re-creating legacy links"
            legacy_links || fail "execution of app config failed: configcli legacy links failed"
        else
            log "configure.status '$_status': already configured"
        fi
        mark_ready
        configured=1
        break
    fi
    if [ "$_sid" = "$CONTAINER_ID" ]; then
        fail "configure failed with exit status $_rc"
    fi
    log "configure.status '$_status': earlier container ended in config error; re-trying setup"
    break
done

# steps 4-9
[ "$configured" = 1 ] || full_setup

# step 10
watch_loop
exit 0
