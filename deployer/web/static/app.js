// The live log of a job page: Server-Sent Events from /jobs/<id>/events, written as text only.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || ["running", "queued"].indexOf(log.dataset.state) < 0 || !window.EventSource) {
    return;
  }
  var status = document.getElementById("status");
  var source = new EventSource(log.dataset.events);

  function show(id, text, prefix) {
    var element = document.getElementById(id);
    element.textContent = text ? (prefix || "") + text : "";
    element.hidden = !text;
  }

  source.onmessage = function (event) {
    var following = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append((log.textContent ? "\n" : "") + event.data);
    if (following) {
      log.scrollTop = log.scrollHeight;
    }
    status.classList.remove("lost");
  };

  source.addEventListener("done", function (event) {
    source.close();
    var done = JSON.parse(event.data);
    log.dataset.state = done.outcome;
    status.textContent = done.headline;
    status.className = "status " + done.outcome;
    show("report", done.report);
    show("error", done.error);
    show("hint", done.hint, "hint: ");
    show("exit", "exit code " + done.exitCode + ": " + done.meaning);
    document.getElementById("result").hidden = false;
  });

  source.onerror = function () {
    // The browser reconnects by itself and resumes after the last line it received.
    if (source.readyState !== EventSource.CLOSED) {
      status.classList.add("lost");
    }
  };
})();
