"""Rendering of the synthetic articulated-figure datasets (``posehybrid.data.synthetic``).

The figures are stick-and-blob people drawn with OpenCV primitives. The point is not realism
but the *kind* of difficulty real pose data has, so that a spatial model has errors to fix:

- Left and right limbs share colour, width and texture; only context (which way the figure
  faces, where the torso is) tells them apart. Figures face the viewer or away, which swaps
  the image side of anatomical left and right. The head carries the facing cue (face + hair
  cap when facing the viewer, all hair when facing away), so the cue is usually far from the
  wrists and ankles.
- Backgrounds are textured and cluttered, with limb-like distractors that use the figure's
  own palette (loose sticks, fake two-segment "arms" ending in a hand blob).
- Joints are occluded by the figure itself (limbs drawn behind the torso or behind each
  other), by foreground distractors and by occluding blobs. Visibility is read from a part-id
  map drawn alongside the image, so the LSP occlusion flag is exact.
- Poses come from a kinematic tree with anatomical-ish angle limits, ±15 % proportions,
  out-of-plane foreshortening, profile views with narrow torsos and striding legs.

Everything random comes from the ``numpy.random.Generator`` passed in, so a scene is a pure
function of its seed. All coordinates are float image pixels; drawing uses ``shift=4``
sub-pixel precision so labels and pixels agree to 1/16 px.

Modules, one idea each: ``body`` (proportions, colours, part ids), ``difficulty`` (the knobs),
``figure`` (sampling a pose), ``drawing`` (a figure on the image and the part-id map),
``distractors`` (limb look-alikes and occluders) and ``scene`` (backgrounds and whole images).
"""
