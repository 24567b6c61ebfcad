// Entry of the browser bundle static/vendor/yjs/yjs-bundle.mjs (built by build.mjs).
// Everything a page needs comes from this one module so that the page, y-websocket and
// y-protocols share a single Yjs instance (two copies break Yjs' constructor checks).
export * as Y from 'yjs'
export { WebsocketProvider } from 'y-websocket'
export { Awareness } from 'y-protocols/awareness'
export * as awarenessProtocol from 'y-protocols/awareness'
export * as syncProtocol from 'y-protocols/sync'
export * as encoding from 'lib0/encoding'
export * as decoding from 'lib0/decoding'

/* global __VENDOR_VERSIONS__ */
/** Versions of the npm packages inside this bundle, e.g. `versions.yjs === "13.6.33"`. */
export const versions = Object.freeze(__VENDOR_VERSIONS__)
