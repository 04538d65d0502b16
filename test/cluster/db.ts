// The database side of the real-node tier: SQL inside the pods (root over the local socket, through
// the scripts' own modules, as probe.sh loads them, so no password crosses a command line), and the continuous writer: a pod
// outside the set that inserts through the write endpoint the program publishes and prints one line
// per acknowledged write.
import assert from "node:assert/strict";
import { Kubectl, sleep, waitUntil } from "../controlplane/kube";

export const CLIENT_NS = "mmc-client";

// The scripts' modules (components/scripts/lib-*.sh) loaded as an entry script loads them (probe's inputs).
export const SQL_IN_POD = 'for m in env sql engine; do . /opt/mmc/lib-$m.sh; done; mmc_env_load probe || exit 2; mmc_tmp_init || exit 1; mmc_sql_local "$@"';

/** Runs SQL (stdin) as root inside a member's server container; tab-separated rows. */
export async function sql(
    kubectl: Kubectl,
    ctx: string,
    ns: string,
    pod: string,
    text: string,
    timeoutMs = 60_000,
    clientArgs: string[] = [],
): Promise<string> {
    const r = await kubectl.run(ctx, ["exec", "-i", "-n", ns, pod, "-c", "mysql", "--", "bash", "-c", SQL_IN_POD, "sql", ...clientArgs], {
        input: text,
        timeoutMs,
    });
    return r.stdout;
}

/** Where a TLS writer mounts the set CA (`ca.crt`, a copy of `<set>-tls-ca` in CLIENT_NS). */
export const CLIENT_TLS_DIR = "/etc/mmc-client-tls";
/** A verified TLS client: the set CA, and the server's certificate must name the host dialled. */
export const CLIENT_TLS_ARGS = `--ssl --ssl-ca=${CLIENT_TLS_DIR}/ca.crt --ssl-verify-server-cert`;

/**
 * Pod manifest of a writer in cluster `cluster`; ids start at `base` (writers never share ids). With
 * `caSecret` (a Secret in CLIENT_NS holding the set CA) it speaks verified TLS (CLIENT_TLS_ARGS).
 */
export function writerManifest(name: string, image: string, writeHost: string, base: number, node: string, caSecret?: string): string {
    const tls = caSecret === undefined ? "" : ` ${CLIENT_TLS_ARGS}`;
    const script = [
        "set -u; n=0",
        'cnf=/tmp/app.cnf; umask 077; printf \'[client]\\nuser=app\\npassword="%s"\\n\' "$APP_PASSWORD" > $cnf',
        "while :; do",
        "  if [ -e /tmp/stop ]; then sleep 1; continue; fi",
        "  if [ -e /tmp/pause ]; then touch /tmp/paused; sleep 0.05; continue; fi",
        "  rm -f /tmp/paused; n=$((n+1)); id=$((BASE+n))",
        `  if timeout 10 mariadb --defaults-extra-file=$cnf${tls} -h "$WRITE_HOST" -P 3306 --connect-timeout=2 -N -B \\`,
        "       -e \"INSERT INTO mmc_test.acks (id, payload) VALUES ($id, SHA2('$id', 256))\" 2>/tmp/err; then",
        '    t=$EPOCHREALTIME; echo "ACK $id ${t/./}"',
        "  else t=$EPOCHREALTIME; echo \"ERR $id ${t/./} $(head -c 200 /tmp/err | tr '\\n' ' ')\"; fi",
        "  sleep 0.05",
        "done",
    ].join("\n");
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: CLIENT_NS, labels: { app: "mmc-writer" } },
        spec: {
            nodeName: node,
            restartPolicy: "Never",
            terminationGracePeriodSeconds: 1,
            containers: [
                {
                    name: "writer",
                    image,
                    imagePullPolicy: "IfNotPresent",
                    command: ["bash", "-c", script],
                    env: [
                        { name: "WRITE_HOST", value: writeHost },
                        { name: "BASE", value: String(base) },
                        { name: "APP_PASSWORD", valueFrom: { secretKeyRef: { name: "app", key: "password" } } },
                    ],
                    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "256Mi" } },
                    ...(caSecret === undefined ? {} : { volumeMounts: [{ name: "tls-ca", mountPath: CLIENT_TLS_DIR, readOnly: true }] }),
                },
            ],
            ...(caSecret === undefined ? {} : { volumes: [{ name: "tls-ca", secret: { secretName: caSecret } }] }),
        },
    });
}

export interface Ack {
    id: number;
    atMs: number;
}

/** Follows a writer's log: acknowledged ids with their time, and failures. */
export class Writer {
    acks: Ack[] = [];
    errors: string[] = [];
    constructor(
        readonly kubectl: Kubectl,
        readonly ctx: string,
        readonly name: string,
    ) {}

    async refresh(): Promise<void> {
        const r = await this.kubectl.run(this.ctx, ["logs", "-n", CLIENT_NS, this.name], { timeoutMs: 60_000 });
        const acks: Ack[] = [];
        const errors: string[] = [];
        for (const line of r.stdout.split("\n")) {
            const m = /^ACK (\d+) (\d+)$/.exec(line.trim());
            if (m) acks.push({ id: Number(m[1]), atMs: Math.floor(Number(m[2]) / 1000) });
            else if (line.startsWith("ERR ")) errors.push(line);
        }
        this.acks = acks;
        this.errors = errors;
    }

    async exec(cmd: string): Promise<void> {
        await this.kubectl.run(this.ctx, ["exec", "-n", CLIENT_NS, this.name, "--", "bash", "-c", cmd]);
    }

    /** Pauses between writes (no write in flight once it returns). */
    async pause(): Promise<void> {
        await this.exec("touch /tmp/pause; for i in $(seq 200); do [ -e /tmp/paused ] && exit 0; sleep 0.05; done; exit 1");
    }
    async resume(): Promise<void> {
        await this.exec("rm -f /tmp/pause /tmp/paused");
    }
    async stop(): Promise<void> {
        await this.exec("touch /tmp/stop");
        await sleep(1500);
    }
}

/** Longest interval between consecutive acknowledged writes (of all writers) within [from, to]. */
export function longestGapMs(acks: Ack[], fromMs: number, toMs: number): { gapMs: number; acks: number } {
    const times = acks
        .map((a) => a.atMs)
        .filter((t) => t >= fromMs && t <= toMs)
        .sort((a, b) => a - b);
    let gap = 0;
    // The window's edges count: a write path that stayed down until the end of the step is a gap too.
    const points = [fromMs, ...times, toMs];
    for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i] - points[i - 1]);
    return { gapMs: gap, acks: times.length };
}

/** The writers' table and account on the primary (password on stdin, never on a command line). */
export async function createWriterAccount(kubectl: Kubectl, ctx: string, ns: string, pod: string, password: string): Promise<void> {
    await sql(
        kubectl,
        ctx,
        ns,
        pod,
        [
            "CREATE DATABASE IF NOT EXISTS mmc_test;",
            "CREATE TABLE IF NOT EXISTS mmc_test.acks (id BIGINT PRIMARY KEY, payload CHAR(64) NOT NULL) ENGINE=InnoDB;",
            `CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${password}';`,
            "GRANT SELECT, INSERT ON mmc_test.* TO 'app'@'%';",
        ].join("\n"),
    );
}

/**
 * Starts a writer pod (namespace CLIENT_NS, its password in a Secret) on `node` of a cluster, writing
 * through `writeHost`; returns once it has acknowledged three writes.
 */
export async function startWriterPod(
    kubectl: Kubectl,
    ctx: string,
    w: { name: string; image: string; writeHost: string; base: number; node: string; password: string; tlsCa?: { secret: string; pem: string } },
): Promise<Writer> {
    await kubectl.run(ctx, ["create", "namespace", CLIENT_NS], { allowFailure: true });
    // The password reaches the API server on stdin, never on a command line.
    await kubectl.run(ctx, ["apply", "-f", "-"], {
        input: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "app", namespace: CLIENT_NS }, stringData: { password: w.password } }),
    });
    // A pod mounts Secrets of its own namespace only: the set CA is copied into CLIENT_NS.
    if (w.tlsCa)
        await kubectl.run(ctx, ["apply", "-f", "-"], {
            input: JSON.stringify({
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: w.tlsCa.secret, namespace: CLIENT_NS },
                stringData: { "ca.crt": w.tlsCa.pem },
            }),
        });
    await kubectl.run(ctx, ["apply", "-f", "-"], { input: writerManifest(w.name, w.image, w.writeHost, w.base, w.node, w.tlsCa?.secret) });
    const writer = new Writer(kubectl, ctx, w.name);
    await waitUntil(
        `${ctx}: ${w.name} acknowledges writes through ${w.writeHost}`,
        120_000,
        async () => {
            await writer.refresh();
            return writer.acks.length >= 3;
        },
        async () => `${(await kubectl.run(ctx, ["logs", "-n", CLIENT_NS, w.name, "--tail", "10"], { allowFailure: true })).stdout}`,
        1000,
    );
    return writer;
}

/**
 * One client connection from a running writer pod (its account, /tmp/app.cnf) to `host` with the given
 * client options; on success the session's TLS version (empty: a plaintext session). Never throws on a
 * refused connection: `code` and the client's error say what happened.
 */
export async function clientAttempt(kubectl: Kubectl, ctx: string, writer: string, host: string, clientArgs: string): Promise<{ code: number; out: string }> {
    const cmd =
        `timeout 15 mariadb --defaults-extra-file=/tmp/app.cnf ${clientArgs} -h '${host}' -P 3306 --connect-timeout=5 -N -B ` +
        `-e "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'"`;
    const r = await kubectl.run(ctx, ["exec", "-n", CLIENT_NS, writer, "--", "bash", "-c", cmd], { allowFailure: true, timeoutMs: 60_000 });
    return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

export interface Member {
    ctx: string;
    pod: string;
    primary: boolean;
}

/** Exactly one writable member, the planned primary; both replication threads running on every replica. */
export async function assertWritableAndReplicating(kubectl: Kubectl, ns: string, members: Member[], label: string): Promise<void> {
    const writable: string[] = [];
    for (const m of members) {
        if ((await sql(kubectl, m.ctx, ns, m.pod, "SELECT @@GLOBAL.read_only;")).trim() === "0") writable.push(m.pod);
        if (m.primary) continue;
        const st = await sql(kubectl, m.ctx, ns, m.pod, "SHOW SLAVE STATUS;", 60_000, ["-E", "--column-names"]);
        assert.match(st, /Slave_IO_Running: Yes/, `${label}: ${m.pod}: replication I/O thread not running:\n${st}`);
        assert.match(st, /Slave_SQL_Running: Yes/, `${label}: ${m.pod}: replication SQL thread not running:\n${st}`);
    }
    assert.deepEqual(
        writable,
        members.filter((m) => m.primary).map((m) => m.pod),
        `${label}: writable members`,
    );
}

/**
 * With writes paused: every member at the primary's GTID position, every acknowledged id present on
 * every member, equal checksums of the writers' table. Returns the checksum.
 */
export async function assertSameData(kubectl: Kubectl, ns: string, members: Member[], acked: Set<number>, label: string): Promise<string> {
    const primary = members.find((m) => m.primary)!;
    const pos = (await sql(kubectl, primary.ctx, ns, primary.pod, "SELECT @@GLOBAL.gtid_binlog_pos;")).trim();
    const sums = new Map<string, string>();
    for (const m of members) {
        await waitUntil(
            `${label}: ${m.pod} at the primary's GTID position ${pos}`,
            120_000,
            async () => (await sql(kubectl, m.ctx, ns, m.pod, "SELECT @@GLOBAL.gtid_current_pos;")).trim() === pos,
            async () => sql(kubectl, m.ctx, ns, m.pod, "SELECT @@GLOBAL.gtid_current_pos;"),
            1000,
        );
        const ids = new Set((await sql(kubectl, m.ctx, ns, m.pod, "SELECT id FROM mmc_test.acks;", 120_000)).split("\n").filter(Boolean).map(Number));
        const missing = [...acked].filter((id) => !ids.has(id));
        assert.deepEqual(missing.slice(0, 20), [], `${label}: ${m.pod} lacks ${missing.length} acknowledged writes`);
        sums.set(m.pod, (await sql(kubectl, m.ctx, ns, m.pod, "CHECKSUM TABLE mmc_test.acks EXTENDED;")).split("\t")[1]?.trim() ?? "");
    }
    assert.equal(new Set(sums.values()).size, 1, `${label}: checksums differ: ${JSON.stringify(Object.fromEntries(sums))}`);
    return [...sums.values()][0];
}

/** One sample of the members' writability: the pods whose server said read_only = 0 (unanswered: `unknown`). */
export interface WritableSample {
    atMs: number;
    writable: string[];
    unknown: string[];
}

/**
 * Samples every member's read_only in the background, all members at once each round (one `kubectl
 * exec` each, so a round takes a few hundred ms): the record "no two writable members at any moment"
 * is checked against. `writableFrom(pod, t)` is the first sample after `t` where `pod` was writable.
 */
export class WritableSampler {
    samples: WritableSample[] = [];
    private running = false;
    private loop: Promise<void> | undefined;
    constructor(
        readonly kubectl: Kubectl,
        readonly ns: string,
        readonly members: () => { ctx: string; pod: string }[],
        readonly intervalMs = 250,
    ) {}

    start(): void {
        if (this.running) return;
        this.running = true;
        this.loop = (async () => {
            while (this.running) {
                const ms = this.members();
                const r = await Promise.all(
                    ms.map((m) =>
                        sql(this.kubectl, m.ctx, this.ns, m.pod, "SELECT @@GLOBAL.read_only;", 8_000).then(
                            (x) => x.trim(),
                            () => "?",
                        ),
                    ),
                );
                this.samples.push({
                    atMs: Date.now(),
                    writable: ms.filter((_, i) => r[i] === "0").map((m) => m.pod),
                    unknown: ms.filter((_, i) => r[i] !== "0" && r[i] !== "1").map((m) => m.pod),
                });
                await sleep(this.intervalMs);
            }
        })();
    }

    async stop(): Promise<void> {
        this.running = false;
        await this.loop;
    }

    /** Samples in [fromMs, toMs] that saw more than one writable member. */
    twoWritable(fromMs: number, toMs = Infinity): WritableSample[] {
        return this.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs && s.writable.length > 1);
    }

    writableFrom(pod: string, fromMs: number): number | undefined {
        return this.samples.find((s) => s.atMs > fromMs && s.writable.includes(pod))?.atMs;
    }

    /** Sample count and the largest interval between samples in [fromMs, toMs] (the sampling's resolution). */
    resolution(fromMs: number, toMs = Infinity): { samples: number; largest_sample_interval_ms: number } {
        const t = this.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs).map((s) => s.atMs);
        let g = 0;
        for (let i = 1; i < t.length; i++) g = Math.max(g, t[i] - t[i - 1]);
        return { samples: t.length, largest_sample_interval_ms: g };
    }
}
