/** What an agent says about itself in every row it returns (host, port, node_id columns). */
export interface NodeIdentity {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly clusters: readonly string[];
}
