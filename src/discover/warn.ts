/** Collects one-line problems seen while scanning; discovery goes on after each. */
export type Warn = (message: string) => void;
