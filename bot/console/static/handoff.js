/* Live handoff pages: new citizen messages appear without reloading, and the queue refreshes itself.
   Everything still works without this script (links to refresh by hand). */
(function () {
  "use strict";
  var log = document.getElementById("live-messages");
  var queue = document.getElementById("handoff-queue");

  function bubble(message) {
    var item = document.createElement("li");
    var kind = message.kind === "user" ? "user" : (message.kind === "bot" || message.kind === "agent") ? "bot" : "meta";
    item.className = "event event-" + kind;
    var who = document.createElement("p");
    who.className = "who-said";
    who.textContent = message.who + " ";
    var time = document.createElement("span");
    time.className = "time";
    time.textContent = message.time;
    who.appendChild(time);
    item.appendChild(who);
    if (message.text) {
      var text = document.createElement("p");
      text.className = "bubble";
      text.textContent = message.text;
      item.appendChild(text);
    }
    return item;
  }

  function pollMessages() {
    var url = log.getAttribute("data-feed") + "?after=" + encodeURIComponent(log.getAttribute("data-after"));
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) {
          data.messages.forEach(function (m) {
            log.appendChild(bubble(m));
            log.setAttribute("data-after", String(m.id));
          });
          if (data.status !== log.getAttribute("data-status")) {
            var typing = document.getElementById("reply-text");
            if (!typing || !typing.value) { window.location.reload(); return; }
          }
        }
        window.setTimeout(pollMessages, 2000);
      })
      .catch(function () { window.setTimeout(pollMessages, 5000); });
  }

  /* A short two-tone chime when more citizens wait than at the last refresh (browsers may keep it silent until
     the agent has clicked on the page once; the red badge says the same thing visibly). */
  function chime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      var audio = new Context();
      [660, 880].forEach(function (frequency, i) {
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        tone.frequency.value = frequency;
        gain.gain.value = 0.15;
        tone.connect(gain);
        gain.connect(audio.destination);
        tone.start(audio.currentTime + i * 0.25);
        tone.stop(audio.currentTime + i * 0.25 + 0.2);
      });
    } catch (e) { /* no sound: the badge remains */ }
  }

  function refreshQueue() {
    fetch(queue.getAttribute("data-refresh"), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("handoff-queue");
          var before = parseInt(queue.getAttribute("data-waiting") || "0", 10);
          var after = fresh ? parseInt(fresh.getAttribute("data-waiting") || "0", 10) : before;
          if (after > before) { chime(); }
          if (fresh && !queue.contains(document.activeElement) && fresh.innerHTML !== queue.innerHTML) {
            queue.innerHTML = fresh.innerHTML;
            queue.setAttribute("data-waiting", String(after));
          }
        }
        window.setTimeout(refreshQueue, 5000);
      })
      .catch(function () { window.setTimeout(refreshQueue, 10000); });
  }

  if (log && window.fetch) { window.setTimeout(pollMessages, 2000); }
  if (queue && window.fetch && window.DOMParser) {
    if (parseInt(queue.getAttribute("data-waiting") || "0", 10) > 0) { chime(); }
    window.setTimeout(refreshQueue, 5000);
  }
}());
