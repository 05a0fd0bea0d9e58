// The page agents and admins of a site whose subscription is not active
// see instead of the app's pages (handlers/license.go): it only follows
// Jira's theme and fits its frame.
import { initPage } from './connect.js';

initPage();
