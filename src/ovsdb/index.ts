// Public surface of the OVSDB client.
export { MonitorCache } from "./cache.js";
export {
  type ClientOptions,
  type MonitorHandler,
  type MonitorMethod,
  NotConnectedError,
  OvsdbClient,
  type RowUpdate,
  type TableUpdates,
} from "./client.js";
export { Database, type MonitorSpec } from "./database.js";
export { type Atom, DatumError, decodeDatum, encodeDatum, NamedUuid, type Value } from "./datum.js";
export { FramingError, JsonStreamFramer } from "./framing.js";
export { formatRemote, parseRemote, parseRemotes, type Remote, RemoteError } from "./remote.js";
export { ConnectionClosedError, OvsdbRpcError } from "./rpc.js";
export { type DatabaseSchema, parseSchema, SchemaError } from "./schema.js";
export type * as Nb from "./schemas/ovn-nb.generated.js";
export type * as Vswitch from "./schemas/vswitch.generated.js";
export {
  type Condition,
  type Mutation,
  OpRef,
  Transaction,
  TransactionError,
  TransactionResult,
  type WritableRow,
} from "./transaction.js";
