/** The test PKI is public (`gantry/testing`); the tests use it from there. */
export { createTestPki, LOOPBACK_HOSTS } from '../../src/testing/pki.js';
export type { PemFiles, TestPki } from '../../src/testing/pki.js';
