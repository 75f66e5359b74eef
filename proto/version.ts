/**
 * The gRPC protocol quell speaks: the package of its .proto files (proto/quell/v1/). Changes
 * within a package are wire-compatible (fields and methods only added); a change that is not
 * makes a new package, `quell.v2`, and this constant follows. `quell --version` prints it.
 */
export const PROTOCOL_VERSION = 'quell.v1';
