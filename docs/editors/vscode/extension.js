// The Nurture extension: the language, its highlighting (package.json), and `nurture lsp` for everything else.
// Plain JavaScript, so there is nothing to build: `npm install --omit=dev` brings the one dependency.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("nurture.server");
  const server = { command: settings.get("command", "nurture"), args: settings.get("args", ["lsp"]) };
  client = new LanguageClient("nurture", "Nurture", server, {
    documentSelector: [{ scheme: "file", language: "nurture" }],
    // templates and campaign files changed on disk are checked again
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{nurture,html,txt}") },
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
