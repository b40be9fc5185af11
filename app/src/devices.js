// The local camera and microphone: opening them (optionally a chosen device)
// and listing the devices for the pickers.

// Opens what is asked for; `null` leaves that kind out.
export async function openMedia({ audioId, videoId, audio = true, video = true }) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new Error('getUserMedia is not available on this page');
    err.name = 'InsecureContextError';
    throw err;
  }
  const constraints = {
    audio: audio ? (audioId ? { deviceId: { exact: audioId } } : true) : false,
    video: video
      ? { ...(videoId ? { deviceId: { exact: videoId } } : {}), width: { ideal: 640 }, height: { ideal: 480 } }
      : false,
  };
  return navigator.mediaDevices.getUserMedia(constraints);
}

// Cameras and microphones; labels are known once access was granted.
export async function listDevices() {
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === 'videoinput'),
    microphones: all.filter((d) => d.kind === 'audioinput'),
  };
}

// Fills a <select> with devices, keeping `selectedId` chosen.
export function fillPicker(select, devices, selectedId, fallback) {
  select.replaceChildren(
    ...devices.map((d, i) => {
      const option = document.createElement('option');
      option.value = d.deviceId;
      option.textContent = d.label || `${fallback} ${i + 1}`;
      option.selected = d.deviceId === selectedId;
      return option;
    }),
  );
  select.disabled = devices.length === 0;
}
