// The status page at `/`: one self-contained HTML file that reads /status.json every 2 s and
// sends an uploaded image through the detection model's infer endpoint (binary-data extension),
// drawing the boxes it gets back. No script or style from elsewhere.
#include "status_page.hpp"

namespace tiledet::serve {

const char* status_page_html() {
    return R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tiledet serve</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;max-width:70em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
.bar{display:inline-block;background:#4a7;height:.8em;vertical-align:middle}
#err{color:#b00}canvas{max-width:100%;border:1px solid #ccc}
</style></head><body>
<h1>tiledet serve</h1>
<p id="ready">…</p>
<h2>Last minute</h2><p id="minute">…</p>
<h2>Models</h2><table id="models"><tr><th>model</th><th>version</th><th>in flight</th><th>tiles pending</th>
<th>answered</th><th>failed</th><th>batch sizes (batches)</th></tr></table>
<h2>Try an image</h2>
<p><select id="model"></select> <input type="file" id="file" accept="image/png,image/jpeg"> <span id="err"></span></p>
<p id="result"></p><canvas id="canvas" width="0" height="0"></canvas>
<script>
"use strict";
function esc(s){return String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
async function refresh(){
  try{
    const s=await (await fetch("/status.json")).json();
    document.getElementById("ready").textContent=s.ready?"ready":"not ready";
    const m=s.last_minute;
    document.getElementById("minute").textContent=m.requests+" requests, "+m.per_second.toFixed(2)+" per second, latency p50 "+m.p50_ms.toFixed(1)+" ms, p99 "+m.p99_ms.toFixed(1)+" ms";
    const t=document.getElementById("models");
    while(t.rows.length>1)t.deleteRow(1);
    const sel=document.getElementById("model");
    for(const x of s.models){
      const r=t.insertRow();
      let hist="";
      if(x.batch_size_histogram){
        const h=x.batch_size_histogram,top=Math.max(1,...h);
        for(let n=1;n<h.length;n++)if(h[n])hist+=n+": <span class=bar style='width:"+(60*h[n]/top)+"px'></span> "+h[n]+"<br>";
      }
      r.innerHTML="<td>"+esc(x.name)+"</td><td>"+esc(x.version)+"</td><td>"+x.pending+"</td><td>"+(x.tiles_pending??"")+"</td><td>"+x.success+"</td><td>"+x.failure+"</td><td>"+hist+"</td>";
      if(!x.name.endsWith("_raw")&&![...sel.options].some(o=>o.value===x.name))sel.add(new Option(x.name,x.name));
    }
  }catch(e){document.getElementById("ready").textContent="no answer: "+e;}
}
document.getElementById("file").addEventListener("change",async ev=>{
  const f=ev.target.files[0];if(!f)return;
  const err=document.getElementById("err");err.textContent="";
  const bytes=new Uint8Array(await f.arrayBuffer());
  const elem=new Uint8Array(4+bytes.length);new DataView(elem.buffer).setUint32(0,bytes.length,true);elem.set(bytes,4);
  const header=new TextEncoder().encode(JSON.stringify({inputs:[{name:"image",datatype:"BYTES",shape:[1],parameters:{binary_data_size:elem.length}}]}));
  const body=new Uint8Array(header.length+elem.length);body.set(header);body.set(elem,header.length);
  const model=document.getElementById("model").value;
  const res=await fetch("/v2/models/"+encodeURIComponent(model)+"/infer",{method:"POST",body:body,
    headers:{"Content-Type":"application/octet-stream","Inference-Header-Content-Length":String(header.length)}});
  const j=await res.json();
  if(!res.ok){err.textContent=j.error;return;}
  const out={};for(const o of j.outputs)out[o.name]=o.data;
  const names=JSON.parse(j.parameters.class_names);
  document.getElementById("result").textContent=names.length+" detections in "+j.parameters.tiles+" tile(s)";
  const img=await createImageBitmap(f),c=document.getElementById("canvas"),g=c.getContext("2d");
  c.width=img.width;c.height=img.height;g.drawImage(img,0,0);
  g.lineWidth=Math.max(2,img.width/400);g.font=Math.max(12,img.width/60)+"px sans-serif";
  for(let i=0;i<names.length;i++){
    const [x1,y1,x2,y2]=out.boxes.slice(4*i,4*i+4);
    g.strokeStyle="#e33";g.strokeRect(x1,y1,x2-x1,y2-y1);
    g.fillStyle="#e33";g.fillText(names[i]+" "+out.scores[i].toFixed(2),x1+2,Math.max(12,y1-4));
  }
});
refresh();setInterval(refresh,2000);
</script></body></html>
)HTML";
}

}  // namespace tiledet::serve
