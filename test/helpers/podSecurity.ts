const RESTRICTED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

/**
 * The Pod Security Standard "restricted" (Kubernetes 1.34) checks of a pod spec, and this project's own
 * additions (read-only root filesystem everywhere). Returns what is violated, one line each; the
 * control-plane tier proves the same against a real API server's admission.
 */
export function restrictedViolations(spec: any): string[] {
    const v: string[] = [];
    const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
    const psc = spec.securityContext ?? {};
    for (const f of ["hostNetwork", "hostPID", "hostIPC"]) if (spec[f]) v.push(`${f} set`);
    for (const vol of spec.volumes ?? []) {
        const kind = Object.keys(vol).find((k) => k !== "name");
        if (!kind || !RESTRICTED_VOLUMES.includes(kind)) v.push(`volume ${vol.name}: type ${kind} not allowed`);
    }
    if (psc.runAsUser === 0) v.push("pod runAsUser 0");
    const seccompPod = psc.seccompProfile?.type;
    for (const c of containers) {
        const sc = c.securityContext ?? {};
        const at = `container ${c.name}`;
        if (sc.privileged) v.push(`${at}: privileged`);
        if (sc.allowPrivilegeEscalation !== false) v.push(`${at}: allowPrivilegeEscalation is not false`);
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) v.push(`${at}: capabilities do not drop ALL`);
        for (const cap of sc.capabilities?.add ?? []) if (cap !== "NET_BIND_SERVICE") v.push(`${at}: adds capability ${cap}`);
        if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) v.push(`${at}: runAsNonRoot is not true`);
        if (sc.runAsUser === 0) v.push(`${at}: runAsUser 0`);
        const seccomp = sc.seccompProfile?.type ?? seccompPod;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") v.push(`${at}: seccompProfile is ${seccomp}`);
        for (const p of c.ports ?? []) if (p.hostPort) v.push(`${at}: hostPort ${p.hostPort}`);
        if (sc.readOnlyRootFilesystem !== true) v.push(`${at}: root filesystem is writable`);
    }
    return v;
}
