/** A refused step: a user error, one line naming the rule and the next safe step. */
export class TransitionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "TransitionError";
    }
}
