// The push queue page, live: polls the queue's JSON every two seconds (the poll also passes the
// turn on when it is due) and redraws the list and "your place" as text only.
(function () {
  "use strict";
  var section = document.getElementById("queue");
  if (!section) {
    return;
  }
  var list = document.getElementById("entries");
  var yours = document.getElementById("your-place");

  function draw(queue) {
    list.textContent = "";
    queue.entries.forEach(function (e) {
      var item = document.createElement("li");
      item.dataset.actor = e.actor;
      item.dataset.entry = e.id;
      item.append(e.actor);
      if (e.job) {
        var link = document.createElement("a");
        link.href = "/jobs/" + encodeURIComponent(e.job);
        link.textContent = "deploying";
        item.append(" · ", link);
      } else if (e.turn) {
        var strong = document.createElement("strong");
        strong.textContent = "has the turn";
        item.append(" · ", strong);
      }
      if (e.turn) {
        item.className = "turn";
      }
      list.append(item);
    });
    var empty = document.getElementById("empty");
    if (empty) {
      empty.hidden = queue.entries.length > 0;
    }
    var place = queue.you.place;
    if (!place) {
      yours.textContent = "You are not in this queue.";
    } else if (queue.entries[0].turn && place === 1 && !queue.entries[0].job) {
      yours.textContent = "It is your turn: press Deploy.";
    } else {
      yours.textContent = "You are number " + place + " of " + queue.length + ".";
    }
  }

  function poll() {
    fetch(section.dataset.api, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (queue) { if (queue) { draw(queue); } })
      .catch(function () {})
      .finally(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
}());
