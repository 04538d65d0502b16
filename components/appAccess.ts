import { ClusterPlan, Plan } from "./plan";
import { CONNECTION_KEYS, PORTS } from "./contract";

/**
 * What the connection Secret `<set>-app` of `cluster` holds besides the password: the write and read
 * Services as that cluster resolves them, the port, the user and the database. Undefined when the set
 * has no application or the cluster neither runs pods nor consumes the set (nothing there connects).
 */
export function connectionSecretData(plan: Plan, cluster: ClusterPlan): Record<string, string> | undefined {
    if (!plan.application || (cluster.podCount === 0 && !cluster.consumer)) return undefined;
    return {
        [CONNECTION_KEYS.host]: cluster.topology.writeHost,
        [CONNECTION_KEYS.readHost]: cluster.readHost,
        [CONNECTION_KEYS.port]: String(PORTS.mysql),
        [CONNECTION_KEYS.user]: plan.application.user,
        [CONNECTION_KEYS.database]: plan.application.database,
    };
}
