// A patient quick search for admin forms: what is typed in the search box is looked up (the
// schedule's patient search, under the patient list's visibility rule) and the people found are
// listed; choosing one fills in the form's patient record number.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const search = document.getElementById("series-patient-search");
  const found = document.getElementById("series-patient-found");
  const field = document.getElementById("id_patient");
  if (!search || !found || !field) return;
  let asked = 0;
  const lookUp = async () => {
    const ask = ++asked;
    const query = search.value.trim();
    if (query.length < 2) {
      found.replaceChildren();
      return;
    }
    const response = await fetch(`${search.dataset.url}?q=${encodeURIComponent(query)}`, {
      headers: { Accept: "application/json" },
    });
    if (ask !== asked || !response.ok) return;
    const patients = (await response.json()).patients;
    found.replaceChildren(...patients.map((patient) => new Option(patient.label, patient.id)));
  };
  search.addEventListener("input", lookUp);
  // Typed (or filled in by the browser) before this script ran: look it up now.
  if (search.value.trim()) lookUp();
  found.addEventListener("change", () => {
    field.value = found.value;
  });
});
