/** The token scope model lives with the other pure values (src/ref/scope.ts); auth re-exports it. */
export * from '../ref/scope.js';
