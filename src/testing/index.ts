/**
 * `gantry/testing`: what a project that uses gantry needs to test against a real registry
 * without Docker: a throw-away registry ({@link startTestRegistry}) and a throw-away PKI
 * ({@link createTestPki}). Not for production: the keys are generated per call and the
 * registry's bcrypt cost is the lowest there is.
 *
 * @packageDocumentation
 */
export { startTestRegistry } from './registry.js';
export type { TestRegistry, TestRegistryOptions } from './registry.js';
export { createTestPki, LOOPBACK_HOSTS } from './pki.js';
export type { TestPki, PemFiles, CertificateAndKey, KeyType } from './pki.js';
