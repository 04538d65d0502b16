// ESLint (typescript-eslint, type-aware) over the program, its tools and its tests; `npm test` runs it.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "rendered/", "bench/results/", "**/*.mjs", "**/*.js"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        rules: {
            // node:test's describe/it/test return promises the runner itself awaits.
            "@typescript-eslint/no-floating-promises": [
                "error",
                {
                    allowForKnownSafeCalls: [
                        { from: "package", package: "node:test", name: ["describe", "it", "test", "before", "after", "beforeEach", "afterEach"] },
                    ],
                },
            ],
            // dependsOn lists take Input<Resource>: deferred promises are spread into them on purpose.
            "@typescript-eslint/no-misused-promises": ["error", { checksSpreads: false }],
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
            eqeqeq: ["error", "always"],
        },
    },
    // Tests and tools read parsed YAML/JSON documents (Kubernetes objects, mock inputs) of arbitrary
    // shape; the program itself (index.ts, components/) stays without `any`.
    { files: ["test/**/*.ts", "tools/**/*.ts", "bench/**/*.ts"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
