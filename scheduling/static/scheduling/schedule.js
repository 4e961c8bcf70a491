// The admin schedule's panels: book into free time, act on an appointment, move it (from the
// real availability, or by dragging it to free time). Every change is a plain form post to
// the admin, which calls the booking services and shows their answer as a message.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const panels = JSON.parse(document.getElementById("schedule-panels").textContent);
  const bookable = JSON.parse(document.getElementById("schedule-bookable").textContent);
  const urls = document.getElementById("schedule-urls").dataset;
  const byId = (id) => document.getElementById(id);
  const urlFor = (template, id) => template.replace(/\/0\//, `/${id}/`);

  document.querySelectorAll("dialog [data-close]").forEach((button) => {
    button.addEventListener("click", () => button.closest("dialog").close());
  });

  // --- Book into free time -----------------------------------------------------------------
  const book = byId("book-dialog");
  if (book) {
    const search = byId("book-patient-search");
    const choices = byId("book-patient");
    let asked = 0;
    document.querySelectorAll("button.book").forEach((cell) => {
      cell.addEventListener("click", () => {
        const allowed = (bookable[cell.dataset.provider] || []).map(String);
        byId("book-provider").value = cell.dataset.provider;
        byId("book-provider-name").textContent = cell.dataset.providerName;
        byId("book-start").value = cell.dataset.start;
        const services = byId("book-service");
        services.value = "";
        for (const option of services.options) {
          const offered = option.value === "" || allowed.includes(option.value);
          option.hidden = !offered;
          option.disabled = !offered;
        }
        book.showModal();
        search.focus();
      });
    });
    search.addEventListener("input", async () => {
      const ask = ++asked;
      const query = search.value.trim();
      if (query.length < 2) {
        choices.replaceChildren();
        return;
      }
      const response = await fetch(`${search.dataset.url}?q=${encodeURIComponent(query)}`, {
        headers: { Accept: "application/json" },
      });
      if (ask !== asked || !response.ok) return;
      const found = (await response.json()).patients;
      choices.replaceChildren(
        ...found.map((patient) => new Option(patient.label, patient.id, false, false)),
      );
      if (found.length === 1) choices.value = String(found[0].id);
    });
    // A person not found: the "new patient" fields replace the choice while they are open.
    const newPatient = byId("book-new-patient");
    if (newPatient) {
      const needed = ["new-first-name", "new-last-name", "new-email"].map(byId);
      newPatient.addEventListener("toggle", () => {
        choices.required = !newPatient.open;
        if (newPatient.open) choices.value = "";
        needed.forEach((input) => {
          input.required = newPatient.open;
        });
        if (newPatient.open) needed[0].focus();
      });
      choices.addEventListener("change", () => {
        if (choices.value) newPatient.open = false;
      });
    }
  }

  // --- An appointment's panel --------------------------------------------------------------
  const panel = byId("appointment-dialog");
  const actions = byId("appointment-actions");
  let current = null;
  const show = (id, text) => {
    const value = byId(id);
    value.textContent = text;
    value.hidden = !text;
    value.previousElementSibling.hidden = !text; // its <dt>
  };
  document.querySelectorAll("button.appt").forEach((button) => {
    button.addEventListener("click", () => {
      current = panels[button.dataset.appointment];
      byId("appointment-title").textContent = `${current.patient}: ${current.service}`;
      const patient = byId("appointment-patient");
      patient.textContent = current.patient;
      patient.href = current.patient_url;
      show("appointment-service", current.service);
      show("appointment-when", current.when);
      show("appointment-status", current.status);
      show("appointment-room", current.room);
      show("appointment-seats", current.seats);
      byId("appointment-page").href = current.url;
      if (actions) {
        const act = urlFor(urls.act, current.id);
        panel.querySelectorAll("form.appointment-form").forEach((form) => {
          form.action = act;
        });
        actions.querySelectorAll("button[name=action]").forEach((choice) => {
          choice.hidden = !current.actions.includes(choice.value);
        });
        const statuses = ["confirm", "arrive", "complete", "no_show"];
        actions.hidden = !current.actions.some((name) => statuses.includes(name));
        byId("appointment-cancel").hidden = !current.actions.includes("cancel");
        byId("appointment-move").hidden = !current.actions.includes("reschedule");
        byId("appointment-late").hidden = !current.late;
        byId("move-date").value = current.date;
        byId("move-time").replaceChildren(new Option("Find free times first", ""));
        byId("move-help").textContent = "";
      }
      panel.showModal();
    });
  });

  const find = byId("move-find");
  if (find) {
    find.addEventListener("click", async () => {
      const help = byId("move-help");
      const times = byId("move-time");
      const ask = current;
      help.textContent = "Looking for free times...";
      const url = `${urlFor(urls.times, current.id)}?date=${encodeURIComponent(byId("move-date").value)}`;
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (ask !== current) return;
      const body = await response.json();
      if (!response.ok) {
        help.textContent = body.error || "Could not look up free times.";
        return;
      }
      times.replaceChildren(...body.times.map((slot) => new Option(slot.label, slot.value)));
      help.textContent = body.times.length
        ? `${body.times.length} free times on that day.`
        : "No free time with this provider on that day.";
    });
  }

  // --- Drag an appointment to free time ----------------------------------------------------
  const drag = byId("drag-move");
  document.querySelectorAll("button.appt[draggable=true]").forEach((button) => {
    button.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", button.dataset.appointment);
      event.dataTransfer.effectAllowed = "move";
    });
  });
  document.querySelectorAll("td.free").forEach((cell) => {
    cell.addEventListener("dragover", (event) => {
      event.preventDefault();
      cell.classList.add("drop");
    });
    cell.addEventListener("dragleave", () => cell.classList.remove("drop"));
    cell.addEventListener("drop", (event) => {
      event.preventDefault();
      const id = event.dataTransfer.getData("text/plain");
      if (!id || !drag) return;
      drag.action = urlFor(urls.act, id);
      drag.elements.provider.value = cell.dataset.provider;
      drag.elements.start.value = cell.dataset.start;
      drag.submit();
    });
  });
});
