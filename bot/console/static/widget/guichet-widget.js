/*
 * Guichet web chat widget — talks to the rasa server's socket.io channel (connectors/webchat/).
 *
 * Embed with one tag:
 *   <script src="/widget/guichet-widget.js" data-server="http://127.0.0.1:5005"
 *           data-privacy-url="/confidentialite" defer></script>
 * Optional: data-retention-days (RETENTION_DAYS; without it the notice says only that messages are kept for a
 * limited time), data-max-chars (2000), data-max-photo-bytes (5 MB), data-socket-path, data-upload-path; keep them
 * equal to the server's settings. data-remember-days (30; 0: never) keeps the conversation's number on the device. No inline code: under a Content-Security-Policy the
 * page only needs connect-src for the rasa server (http(s): and ws(s):) and img-src for it (photos).
 *
 * Plain JavaScript, no build step. Nothing is stored in the browser (no cookie, no web storage) and no
 * connection is made until the citizen opens the chat; after that the conversation is kept in
 * sessionStorage so that it survives a page reload, and is gone when the tab is closed — except its number
 * (the session id, nothing the citizen wrote), kept in localStorage for data-remember-days: when the browser comes
 * back, the widget reconnects with it so that the follow-up of a report waiting on the server reaches the citizen
 * (an unread badge on the launcher). « Effacer la conversation de cet appareil » removes both (shared computers).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.GuichetWidget) {
    return;
  }

  var config = {
    server: (script.getAttribute("data-server") || window.location.origin).replace(/\/+$/, ""),
    socketPath: script.getAttribute("data-socket-path") || "/socket.io",
    uploadPath: script.getAttribute("data-upload-path") || "/webhooks/webchat/upload",
    privacyUrl: script.getAttribute("data-privacy-url") || "#",
    retentionDays: script.getAttribute("data-retention-days") || "",
    maxChars: parseInt(script.getAttribute("data-max-chars") || "2000", 10),
    maxPhotoBytes: parseInt(script.getAttribute("data-max-photo-bytes") || String(5 * 1024 * 1024), 10),
    rememberDays: Math.max(0, parseInt(script.getAttribute("data-remember-days") || "30", 10) || 0),
    base: script.src.replace(/[^/]*$/, "")
  };
  var STORE_KEY = "guichet-chat";
  var REMEMBER_KEY = "guichet-chat-session"; // localStorage: { sessionId, expires } only
  var DAY_MS = 24 * 60 * 60 * 1000;
  var PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  var TYPING_TIMEOUT_MS = 20000;

  // What the citizen reads; the assistant's own answers come from the server.
  var TEXT = {
    launcher: "Une question ? Discutez avec la mairie",
    region: "Discussion avec la mairie",
    title: "Discuter avec la mairie",
    close: "Fermer la discussion",
    erase: "Effacer la conversation de cet appareil",
    unread: "nouveau message",
    privacy: "Ne communiquez pas de données sensibles (santé, opinions, coordonnées bancaires…). " +
      (/^\d+$/.test(config.retentionDays) ? "Vos messages sont conservés " + config.retentionDays + " jours."
        : "Vos messages sont conservés pour une durée limitée.") +
      (config.rememberDays > 0 ? " Le numéro de cette discussion reste " + config.rememberDays +
        " jours sur cet appareil pour vous transmettre la suite de vos demandes." : ""),
    privacyLink: "Vos droits sur vos données",
    newWindow: " (nouvelle fenêtre)",
    log: "Messages de la discussion",
    inputLabel: "Votre message",
    placeholder: "Votre question…",
    send: "Envoyer",
    photo: "Joindre une photo",
    choices: "Choix proposés",
    you: "Vous : ",
    bot: "La mairie : ",
    typing: "La mairie écrit…",
    connecting: "Connexion en cours…",
    reconnecting: "Connexion perdue, en cours de reconnexion…",
    reconnected: "Connexion rétablie.",
    photoSending: "Envoi de la photo…",
    photoSent: "Photo envoyée",
    photoType: "Cette photo n'est pas acceptée : choisissez une image JPEG, PNG ou WebP.",
    photoSize: "Cette photo est trop lourde : " + Math.round(config.maxPhotoBytes / 1048576) + " Mo au maximum.",
    photoFailed: "La photo n'a pas pu être envoyée. Merci de réessayer.",
    tooLong: "Votre message est trop long : " + config.maxChars + " caractères au maximum.",
    yourPhoto: "Votre photo",
    botImage: "Image envoyée par la mairie"
  };

  var state = { sessionId: null, open: false, messages: [] };
  var persisting = false; // becomes true when the citizen first opens the chat (CNIL)
  var socket = null;
  var ui = {};
  var typingTimer = null;
  var wasDisconnected = false;
  var sessionReady = false; // messages wait for session_confirm, so they all belong to the same session
  var outbox = [];
  var unread = 0; // messages that arrived while the chat was closed (shown on the launcher)

  // --- storage (only after the citizen opened the chat) -----------------------------------

  function load() {
    try {
      var raw = window.sessionStorage.getItem(STORE_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function save() {
    if (!persisting) {
      return;
    }
    try {
      window.sessionStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage full or refused: the chat still works for this page */
    }
    remember();
  }

  function remember() {
    if (!persisting || !config.rememberDays || !state.sessionId) {
      return;
    }
    try {
      window.localStorage.setItem(REMEMBER_KEY, JSON.stringify({
        sessionId: state.sessionId, expires: Date.now() + config.rememberDays * DAY_MS
      }));
    } catch (e) {
      /* refused: the conversation is then forgotten with the tab, as without data-remember-days */
    }
  }

  function recall() {
    try {
      var kept = JSON.parse(window.localStorage.getItem(REMEMBER_KEY) || "null");
      if (kept && typeof kept.sessionId === "string" && kept.expires > Date.now() && config.rememberDays) {
        return kept.sessionId;
      }
      window.localStorage.removeItem(REMEMBER_KEY);
    } catch (e) {
      /* no storage: nothing to recall */
    }
    return null;
  }

  function forget() {
    try {
      window.localStorage.removeItem(REMEMBER_KEY);
      window.sessionStorage.removeItem(STORE_KEY);
    } catch (e) {
      /* nothing was stored */
    }
  }

  // --- DOM helpers ---------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") {
        node.textContent = attrs[name];
      } else if (name === "className") {
        node.className = attrs[name];
      } else {
        node.setAttribute(name, attrs[name]);
      }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function srOnly(text) {
    return el("span", { className: "gw-sr", text: text });
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function externalLink(href, label) {
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, [label, srOnly(TEXT.newWindow)]);
  }

  // Text with [label](url) links and bare URLs turned into links; never parsed as HTML.
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var pattern = /\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)])/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      var href = safeUrl(match[2] || match[3]);
      var label = match[1] || match[3];
      fragment.appendChild(href ? externalLink(href, label) : document.createTextNode(match[0]));
      last = pattern.lastIndex;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  // --- building the widget ------------------------------------------------------------------

  function icon(path) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "gw-icon");
    var shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
    shape.setAttribute("d", path);
    svg.appendChild(shape);
    return svg;
  }

  function build() {
    ui.launcher = el("button", {
      type: "button", className: "gw-launcher", "aria-expanded": "false", "aria-controls": "gw-dialog"
    }, [icon("M4 4h16v12H7l-3 3V4z"), el("span", { text: TEXT.launcher })]);
    ui.unread = el("span", { className: "gw-unread", hidden: "" });
    ui.launcher.appendChild(ui.unread);
    ui.erase = el("button", { type: "button", className: "gw-erase", text: TEXT.erase });

    ui.close = el("button", { type: "button", className: "gw-close", "aria-label": TEXT.close },
      [icon("M6 6l12 12M18 6L6 18")]);
    ui.log = el("div", {
      className: "gw-log", role: "log", "aria-live": "polite", "aria-label": TEXT.log, tabindex: "0"
    });
    ui.status = el("p", { className: "gw-status", role: "status" });
    ui.input = el("input", {
      type: "text", id: "gw-input", className: "gw-input", autocomplete: "off",
      maxlength: String(config.maxChars), placeholder: TEXT.placeholder
    });
    ui.file = el("input", { type: "file", className: "gw-file", accept: PHOTO_TYPES.join(","), hidden: "" });
    ui.file.tabIndex = -1;
    ui.photo = el("button", { type: "button", className: "gw-photo", "aria-label": TEXT.photo, title: TEXT.photo },
      [icon("M4 7h3l2-3h6l2 3h3v13H4V7zm8 3a4 4 0 100 8 4 4 0 000-8z")]);
    ui.send = el("button", { type: "submit", className: "gw-send" }, [TEXT.send]);
    ui.form = el("form", { className: "gw-form", novalidate: "" }, [
      el("label", { for: "gw-input", className: "gw-sr", text: TEXT.inputLabel }),
      ui.input, ui.file, ui.photo, ui.send
    ]);

    ui.dialog = el("div", {
      id: "gw-dialog", className: "gw-dialog", role: "dialog", "aria-labelledby": "gw-title", hidden: ""
    }, [
      el("div", { className: "gw-header" }, [el("h2", { id: "gw-title", text: TEXT.title }), ui.erase, ui.close]),
      el("p", { className: "gw-privacy" }, [
        TEXT.privacy + " ", externalLink(safeUrl(config.privacyUrl) || "#", TEXT.privacyLink), "."
      ]),
      ui.log, ui.status, ui.form
    ]);

    ui.root = el("aside", { id: "guichet-widget", className: "gw", "aria-label": TEXT.region },
      [ui.launcher, ui.dialog]);

    ui.launcher.addEventListener("click", function () { open(true); });
    ui.erase.addEventListener("click", erase);
    ui.close.addEventListener("click", close);
    ui.dialog.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      sendText();
    });
    ui.photo.addEventListener("click", function () { ui.file.click(); });
    ui.file.addEventListener("change", sendPhoto);
  }

  // --- rendering messages --------------------------------------------------------------------

  function renderButtons(message, index) {
    var group = el("div", { className: "gw-choices", role: "group", "aria-label": TEXT.choices });
    (message.quick_replies || message.buttons || []).forEach(function (button) {
      var node = el("button", { type: "button", className: "gw-choice", text: button.title || button.payload });
      if (message.used) {
        node.disabled = true;
      }
      node.addEventListener("click", function () {
        state.messages[index].used = true;
        Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) { b.disabled = true; });
        emitMessage(button.payload || button.title, button.title || button.payload, {});
        ui.input.focus();
      });
      group.appendChild(node);
    });
    return group;
  }

  function renderAttachment(attachment) {
    var payload = attachment.payload || {};
    var src = safeUrl(payload.src || payload.url || "");
    if (!src) {
      return null;
    }
    if (attachment.type === "image") {
      return el("img", { className: "gw-image", src: src, alt: payload.alt || payload.title || TEXT.botImage });
    }
    return el("p", {}, [externalLink(src, payload.title || src)]);
  }

  function render(message, index) {
    var fromBot = message.from === "bot";
    var item = el("div", { className: "gw-msg " + (fromBot ? "gw-msg-bot" : "gw-msg-user") },
      [srOnly(fromBot ? TEXT.bot : TEXT.you)]);
    if (message.text) {
      item.appendChild(el("p", {}, [richText(message.text)]));
    }
    if (message.photo) {
      item.appendChild(el("img", { className: "gw-image", src: message.photo, alt: TEXT.yourPhoto }));
    }
    if (message.attachment) {
      var attachment = renderAttachment(message.attachment);
      if (attachment) {
        item.appendChild(attachment);
      }
    }
    if ((message.quick_replies || message.buttons || []).length) {
      item.appendChild(renderButtons(message, index));
    }
    ui.log.appendChild(item);
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function add(message) {
    state.messages.push(message);
    render(message, state.messages.length - 1);
    save();
  }

  function setStatus(text) {
    ui.status.textContent = text || "";
  }

  function showTyping() {
    if (!typingTimer) {
      setStatus(TEXT.typing); // announced once per wait, not on every message sent
      ui.status.classList.add("gw-typing");
    } else {
      window.clearTimeout(typingTimer);
    }
    typingTimer = window.setTimeout(hideTyping, TYPING_TIMEOUT_MS);
  }

  function hideTyping() {
    if (typingTimer) {
      window.clearTimeout(typingTimer);
      typingTimer = null;
      ui.status.classList.remove("gw-typing");
      setStatus("");
    }
  }

  // --- connection ----------------------------------------------------------------------------

  function loadSocketClient(then) {
    if (window.io) {
      then();
      return;
    }
    var tag = el("script", { src: config.base + "vendor/socket.io.min.js" });
    tag.addEventListener("load", then);
    document.head.appendChild(tag);
  }

  function connect() {
    if (socket) {
      return;
    }
    setStatus(TEXT.connecting);
    loadSocketClient(function () {
      // WebSocket first (one connection, so several rasa workers need no sticky sessions), polling if it fails.
      socket = window.io(config.server, {
        path: config.socketPath, transports: ["websocket", "polling"], tryAllTransports: true, withCredentials: false
      });
      socket.on("connect", function () {
        sessionReady = false;
        socket.emit("session_request", { session_id: state.sessionId });
        if (wasDisconnected) {
          setStatus(TEXT.reconnected);
        } else if (!typingTimer) {
          setStatus(""); // a message sent before the connection keeps its « La mairie écrit… »
        }
        wasDisconnected = false;
      });
      socket.on("session_confirm", function (sessionId) {
        state.sessionId = typeof sessionId === "string" ? sessionId : (sessionId && sessionId.session_id);
        save();
        sessionReady = true;
        outbox.splice(0).forEach(deliver);
      });
      socket.on("bot_uttered", function (message) {
        hideTyping();
        if (message && typeof message === "object" && !state.open) {
          unread += 1;
          ui.unread.textContent = unread + " " + TEXT.unread + (unread > 1 ? "s" : "");
          ui.unread.hidden = false;
        }
        if (message && typeof message === "object") {
          add({
            from: "bot", text: message.text, attachment: message.attachment,
            quick_replies: message.quick_replies, buttons: message.buttons
          });
        }
      });
      socket.on("disconnect", function () {
        sessionReady = false;
        hideTyping();
        wasDisconnected = true;
        setStatus(TEXT.reconnecting);
      });
      socket.on("connect_error", function () {
        wasDisconnected = true;
        setStatus(TEXT.reconnecting);
      });
    });
  }

  function emitMessage(payload, shown, metadata) {
    if (!socket) {
      return;
    }
    add({ from: "user", text: shown, photo: metadata.photo_url });
    if (sessionReady) {
      deliver({ message: payload, metadata: metadata });
    } else {
      outbox.push({ message: payload, metadata: metadata });
    }
    showTyping();
  }

  function deliver(item) {
    socket.emit("user_uttered", { message: item.message, session_id: state.sessionId, metadata: item.metadata });
  }

  function sendText() {
    var text = ui.input.value.trim();
    if (!text || !socket) {
      return;
    }
    if (text.length > config.maxChars) {
      setStatus(TEXT.tooLong);
      return;
    }
    ui.input.value = "";
    emitMessage(text, text, {});
  }

  function sendPhoto() {
    var file = ui.file.files && ui.file.files[0];
    ui.file.value = "";
    if (!file) {
      return;
    }
    if (PHOTO_TYPES.indexOf(file.type) < 0) {
      setStatus(TEXT.photoType);
      return;
    }
    if (file.size > config.maxPhotoBytes) {
      setStatus(TEXT.photoSize);
      return;
    }
    var body = new FormData();
    body.append("photo", file);
    setStatus(TEXT.photoSending);
    window.fetch(config.server + config.uploadPath, { method: "POST", body: body, credentials: "omit" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (answer) {
        var caption = ui.input.value.trim();
        ui.input.value = "";
        setStatus("");
        emitMessage(caption, caption || TEXT.photoSent, { photo_url: answer.url });
      })
      .catch(function (error) {
        setStatus(error.message === "413" ? TEXT.photoSize : error.message === "415" ? TEXT.photoType : TEXT.photoFailed);
      })
      .finally(function () { ui.input.focus(); });
  }

  // --- opening and closing -------------------------------------------------------------------

  function open(moveFocus) {
    persisting = true;
    state.open = true;
    unread = 0;
    ui.unread.hidden = true;
    save();
    ui.dialog.hidden = false;
    ui.launcher.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.log.scrollTop = ui.log.scrollHeight;
    connect();
    if (moveFocus) {
      ui.input.focus();
    }
  }

  function close() {
    state.open = false;
    save();
    ui.dialog.hidden = true;
    ui.launcher.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  function erase() {
    // A shared computer: nothing of this conversation stays on the device, and the next message starts another one.
    forget();
    if (socket) {
      var previous = socket;
      socket = null;
      previous.off();
      previous.disconnect();
    }
    sessionReady = false;
    wasDisconnected = false;
    outbox.length = 0;
    state = { sessionId: null, open: true, messages: [] };
    while (ui.log.firstChild) {
      ui.log.removeChild(ui.log.firstChild);
    }
    save();
    connect();
    ui.input.focus();
  }

  function start() {
    document.head.appendChild(el("link", { rel: "stylesheet", href: config.base + "guichet-widget.css" }));
    build();
    var saved = load();
    if (saved && Array.isArray(saved.messages)) {
      // A conversation the citizen already opened in this tab: show it again, without announcing it.
      state = { sessionId: saved.sessionId || null, open: !!saved.open, messages: saved.messages };
      persisting = true;
      state.messages.forEach(render);
    }
    document.body.appendChild(ui.root);
    if (!state.sessionId) {
      var kept = recall();
      if (kept) {
        // The browser came back: the citizen opened this chat before and agreed to the notice; reconnect so that
        // the follow-up waiting on the server arrives (unread badge), without opening the chat.
        state.sessionId = kept;
        persisting = true;
        save();
        connect();
      }
    }
    if (state.open) {
      open(false);
    }
  }

  window.GuichetWidget = { open: function () { open(true); }, close: close };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
