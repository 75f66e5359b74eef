// The public face of quell's transport security; import from here.
export { TransportSecurity, type ClientCertificates } from './transport-security';
export { plaintextAllowed, isLoopback, hasTlsFiles, type TlsOptions } from './options';
export { peerIdentity, socketPeerIdentity, peerRefusal, serverIdentityCheck, IDENTITY_MISMATCH, type PeerCall } from './peer';
export { PeerPolicy } from './peer-policy';
export { tlsFailure, type TlsFailure } from './failures';
export { CertFiles, loadCertFiles, type CertFilePaths, type LoadedCerts } from './cert-files';
export { RecordSigner, RecordVerifier, CLOCK_ALLOWANCE_S, type RecordSignature, type SignedKind, type Verdict } from './record-signature';
