import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface CredentialsArgs {
    /** Length of every generated password (default 32). */
    readonly length?: number;
    /** Also generate the application's password (`mysql.application` set; default false). */
    readonly application?: boolean;
}

/**
 * The set's credentials, generated once for the whole set and shared by every cluster: root (local
 * administration only), replication, seed (CLONE / backup stream) and admin (the switchover account). Secret outputs: encrypted in state.
 */
export class Credentials extends pulumi.ComponentResource {
    public readonly rootPassword: pulumi.Output<string>;
    public readonly replicationPassword: pulumi.Output<string>;
    public readonly seedPassword: pulumi.Output<string>;
    public readonly adminPassword: pulumi.Output<string>;
    /** The application's password; undefined without `mysql.application`. */
    public readonly appPassword: pulumi.Output<string> | undefined;

    constructor(name: string, args: CredentialsArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:credentials:Credentials", name, {}, opts);
        // Alphanumeric only: the values go into SQL, my.cnf-style files and shell without quoting trouble.
        const password = (role: string) => new random.RandomPassword(`${name}-${role}`, { length: args.length ?? 32, special: false }, { parent: this }).result;
        this.rootPassword = pulumi.secret(password("root"));
        this.replicationPassword = pulumi.secret(password("replication"));
        this.seedPassword = pulumi.secret(password("seed"));
        this.adminPassword = pulumi.secret(password("admin"));
        this.appPassword = args.application ? pulumi.secret(password("application")) : undefined;
        this.registerOutputs({});
    }
}
