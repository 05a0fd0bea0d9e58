// The bridge the pages' Forge host adapter (static/js/forge.js) imports as
// './forge-bridge.js': Atlassian's @forge/bridge, and the service's public
// URL, which build.mjs writes in from BASE_URL (the value forge deploy
// gives the manifest's remote). The demo host serves a stand-in instead
// (app/demo/assets/forge-bridge.js).
/* global __REMOTE_BASE_URL__ */
export { view, invokeRemote, requestRemote, requestJira, showFlag, Modal, events } from '@forge/bridge';

/** remoteBase is the service's base URL, ending with a slash. */
export function remoteBase() {
  return __REMOTE_BASE_URL__;
}
