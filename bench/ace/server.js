// The peer of the load harness (bench/cmd/load): atlassian-connect-express
// 11.5.3 answering GET /api/v1/me to the same Connect context tokens as our
// service, so that the two are measured side by side on the same request.
//
// It is what an ACE app would run, as small as ACE allows: express, its JSON
// body parser (ACE looks for the token in req.body before the Authorization
// header and refuses a request without a body object), ACE's request
// middleware, and checkValidToken(), ACE's check for AP.context.getToken()
// tokens (it verifies the HS256 signature with the tenant's shared secret
// and the expiry, skips the qsh as context tokens require, and signs a fresh
// session token into the X-acpt header, as every ACE app does).
//
// ACE stores tenants through sequelize by default, whose SQLite driver is a
// native build; an in-memory adapter registered with ACE's store registry
// takes its place (values kept as JSON text, as ACE's Redis adapter does).
//
// Environment: PORT (loopback port), ACE_TENANTS (a JSON file of
// [{clientKey, sharedSecret, baseUrl}], loaded before /healthz answers).
// Only for the harness: it listens on 127.0.0.1 only.
"use strict";

// Production mode, as an app would run: set before express and ACE are
// loaded, since both read it then (ACE's logger, express's env).
process.env.NODE_ENV = "production";

const fs = require("fs");
const express = require("express");
const ace = require("atlassian-connect-express");

class MemoryAdapter {
  constructor() {
    this.values = new Map();
  }

  static id(key, clientKey) {
    return clientKey ? `${clientKey}:${key}` : key;
  }

  async get(key, clientKey) {
    const raw = this.values.get(MemoryAdapter.id(key, clientKey));
    return raw === undefined ? null : JSON.parse(raw);
  }

  async set(key, val, clientKey) {
    this.values.set(MemoryAdapter.id(key, clientKey), JSON.stringify(val));
    return this.get(key, clientKey);
  }

  async del(key, clientKey) {
    this.values.delete(MemoryAdapter.id(key, clientKey));
  }

  async saveInstallation(val, clientKey) {
    return this.set("clientInfo", val, clientKey);
  }

  async getAllClientInfos() {
    const all = [];
    for (const [id, raw] of this.values) {
      if (id.endsWith(":clientInfo")) {
        all.push(JSON.parse(raw));
      }
    }
    return all;
  }

  isMemoryStore() {
    return true;
  }

  async associateInstallations() {}

  async deleteAssociation() {}

  async getClientSettingsForForgeInstallation() {
    return null;
  }

  forForgeInstallation(installationId) {
    return {
      get: key => this.get(key, `forge:${installationId}`),
      set: (key, val) => this.set(key, val, `forge:${installationId}`),
      del: key => this.del(key, `forge:${installationId}`)
    };
  }
}

ace.store.register("memory", () => new MemoryAdapter());

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error("PORT must be a port number");
  process.exit(2);
}

const app = express();
const addon = ace(app, {
  config: {
    production: {
      port,
      localBaseUrl: `http://127.0.0.1:${port}`,
      store: { adapter: "memory" },
      // No install route: the harness seeds the tenants itself.
      setupInstallRoute: false,
      watch: false
    }
  }
});

let ready = false;
app.get("/healthz", (req, res) => {
  res.status(ready ? 200 : 503).send(ready ? "ok" : "seeding");
});

app.use(express.json());
app.use(addon.middleware());

// The same request as our GET /api/v1/me, answering a small JSON.
app.get("/api/v1/me", addon.checkValidToken(), (req, res) => {
  res.json({ accountId: req.context.userAccountId, clientKey: req.context.clientKey });
});

async function seed() {
  const tenants = JSON.parse(fs.readFileSync(process.env.ACE_TENANTS, "utf8"));
  for (const t of tenants) {
    await addon.settings.saveInstallation(
      {
        key: addon.key,
        clientKey: t.clientKey,
        sharedSecret: t.sharedSecret,
        baseUrl: t.baseUrl,
        productType: "jira",
        eventType: "installed"
      },
      t.clientKey
    );
  }
  return tenants.length;
}

const server = app.listen(port, "127.0.0.1", () => {
  seed().then(
    n => {
      ready = true;
      console.log(`ace: ${n} tenants, listening on 127.0.0.1:${port}`);
    },
    err => {
      console.error("ace: seed:", err);
      process.exit(1);
    }
  );
});
// Keep-alive connections outlive Node's default 5 s between the harness's
// slices, as Go's server keeps them for its IdleTimeout.
server.keepAliveTimeout = 120 * 1000;
server.headersTimeout = 125 * 1000;

process.on("SIGTERM", () => server.close(() => process.exit(0)));
