import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseStackConfig, rawFromPulumiConfig } from "./components/config";
import { MysqlMultiCluster } from "./components/mysqlMultiCluster";
import { TransitionError } from "./components/step";

// User errors (bad config, unsafe step) are one line: RunError prints no stack trace, nothing changes.
async function userErrors<T>(f: () => T | Promise<T>): Promise<T> {
    try {
        return await f();
    } catch (e) {
        if (e instanceof ConfigError || e instanceof TransitionError) throw new pulumi.RunError(e.message);
        throw e;
    }
}

export = async () => {
    const config = await userErrors(() => parseStackConfig(rawFromPulumiConfig(pulumi.runtime.allConfig())));
    // The stack's one set keeps the names (and URNs) it had before the component existed; the step is
    // judged against this stack's own `migrationState` output.
    const set = await userErrors(() => MysqlMultiCluster.create(config.mysql.name, { config, stackRootNames: true }));
    // The step table, in the preview a reviewer reads in the pull request and in the `up` log.
    void pulumi.log.info(`mysql-multicluster step\n${set.outputs.step.table}`);
    return set.outputs;
};
