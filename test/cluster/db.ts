// The database side of the real-node tier: SQL inside the pods (root over the local socket, through
// the scripts' own modules, as probe.sh loads them, so no password crosses a command line), and the continuous writer: a pod
// outside the set that inserts through the write endpoint the program publishes and prints one line
// per acknowledged write.
import { Kubectl, sleep } from "../controlplane/kube";

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

/** Pod manifest of a writer in cluster `cluster`; ids start at `base` (writers never share ids). */
export function writerManifest(name: string, image: string, writeHost: string, base: number, node: string): string {
    const script = [
        "set -u; n=0",
        'cnf=/tmp/app.cnf; umask 077; printf \'[client]\\nuser=app\\npassword="%s"\\n\' "$APP_PASSWORD" > $cnf',
        "while :; do",
        "  if [ -e /tmp/stop ]; then sleep 1; continue; fi",
        "  if [ -e /tmp/pause ]; then touch /tmp/paused; sleep 0.05; continue; fi",
        "  rm -f /tmp/paused; n=$((n+1)); id=$((BASE+n))",
        '  if timeout 10 mariadb --defaults-extra-file=$cnf -h "$WRITE_HOST" -P 3306 --connect-timeout=2 -N -B \\',
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
                },
            ],
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
