import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseStackConfig, rawFromPulumiConfig } from "./components/config";
import { deploy } from "./components/deployment";
import { TransitionError, parseDeployedState } from "./components/step";

// User errors (bad config, unsafe step) are one line: RunError prints no stack trace, nothing changes.
function userErrors<T>(f: () => T): T {
    try {
        return f();
    } catch (e) {
        if (e instanceof ConfigError || e instanceof TransitionError) throw new pulumi.RunError(e.message);
        throw e;
    }
}

/** The last successful deployment of this very stack, from its own outputs; none on the first `up`. */
async function deployedState() {
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    const { value } = await self.getOutputDetails("migrationState");
    return userErrors(() => parseDeployedState(value));
}

export = async () => {
    const config = userErrors(() => parseStackConfig(rawFromPulumiConfig(pulumi.runtime.allConfig())));
    const previous = await deployedState();
    const { outputs } = userErrors(() => deploy(config, previous));
    // The step table, in the preview a reviewer reads in the pull request and in the `up` log.
    void pulumi.log.info(`mysql-multicluster step\n${outputs.step.table}`);
    return outputs;
};
