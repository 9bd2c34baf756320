// The waves of a job page, live: polls /api/jobs/<id>/waves every second while the job runs
// (and once for a finished job) and writes each wave's state as text only.
(function () {
  "use strict";
  var section = document.getElementById("waves");
  if (!section || !window.fetch) {
    return;
  }
  var list = document.getElementById("wave-list");
  var controls = document.getElementById("wave-controls");
  var running = section.dataset.running === "yes";

  function line(wave, of) {
    var item = document.createElement("li");
    item.className = "wave " + wave.state;
    item.dataset.wave = String(wave.wave);
    item.dataset.state = wave.state;
    var head = document.createElement("strong");
    head.textContent = "wave " + wave.wave + "/" + of + (wave.clusters.length ? " (" + wave.clusters.join(", ") + ")" : "");
    var state = document.createElement("span");
    state.className = "badge " + wave.state;
    state.textContent = wave.state;
    item.append(head, " ", state);
    if (wave.state === "baking" && wave.remaining !== null) {
      var left = document.createElement("span");
      left.className = "wave-left";
      left.textContent = Math.ceil(wave.remaining) + "s left";
      item.append(" ", left);
    }
    if (wave.message) {
      var message = document.createElement("div");
      message.className = "wave-message";
      message.textContent = wave.message;
      item.append(message);
    }
    return item;
  }

  function show(board) {
    if (!board.waves.length) {
      return;
    }
    section.hidden = false;
    list.replaceChildren.apply(list, board.waves.map(function (wave) { return line(wave, board.of); }));
    controls.hidden = !board.steerable;
    var paused = board.waves.some(function (wave) { return wave.state === "paused"; });
    controls.querySelector(".wave-pause").hidden = paused;
    controls.querySelector(".wave-resume").hidden = !paused;
  }

  function poll() {
    fetch(section.dataset.api, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (board) {
        if (board) {
          show(board);
        }
        var log = document.getElementById("log");
        var stillRunning = !!log && ["running", "queued"].indexOf(log.dataset.state) >= 0;
        if (stillRunning || running) {
          // once the job has ended, one more look shows the board as the job left it
          running = stillRunning;
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }

  poll();
})();
