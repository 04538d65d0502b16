import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseStackConfig, rawFromPulumiConfig } from "./components/config";
import { deploy } from "./components/deployment";

// Config errors are user errors: one line (RunError prints no stack trace), nothing created.
function loadConfig() {
    try {
        return parseStackConfig(rawFromPulumiConfig(pulumi.runtime.allConfig()));
    } catch (e) {
        if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
        throw e;
    }
}

const { outputs } = deploy(loadConfig());

export const primary = outputs.primary;
export const placement = outputs.placement;
export const clusters = outputs.clusters;
export const writeEndpoint = outputs.writeEndpoint;
