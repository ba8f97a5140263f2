// Written by colorutils.evaluation.write_turing_pairs; do not edit.
window.TURING_DEFAULT_PAIRS = {
 "title": "Which one is real?",
 "source": "demo set: run chapter 06 for model colorizations",
 "pairs": [
  {
   "id": "p000",
   "real": "default/p000_b.png",
   "fake": "default/p000_a.png",
   "method": "demo: hue rotated 120 degrees"
  },
  {
   "id": "p001",
   "real": "default/p001_a.png",
   "fake": "default/p001_b.png",
   "method": "demo: hue rotated 120 degrees"
  },
  {
   "id": "p002",
   "real": "default/p002_a.png",
   "fake": "default/p002_b.png",
   "method": "demo: hue rotated 120 degrees"
  },
  {
   "id": "p003",
   "real": "default/p003_a.png",
   "fake": "default/p003_b.png",
   "method": "demo: hue rotated 120 degrees"
  },
  {
   "id": "p004",
   "real": "default/p004_b.png",
   "fake": "default/p004_a.png",
   "method": "demo: hue rotated 120 degrees"
  },
  {
   "id": "p005",
   "real": "default/p005_b.png",
   "fake": "default/p005_a.png",
   "method": "demo: hue rotated 120 degrees"
  }
 ],
 "note": "the first 6 photos of the embedded sample set's test split at 64 px; each 'colorization' keeps the photo's lightness and turns its colours by 120 degrees of hue, no model involved."
};
