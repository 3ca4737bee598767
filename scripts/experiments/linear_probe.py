import numpy as np, pickle, sys

import json
D='/work/shared/toolmmbench/'
cat=[json.loads(l) for l in open(D+'catalog.jsonl')]; ids=[c['id'] for c in cat]
z=np.load('split.npz'); Xtr,ytr,Xdv,Xte,Ec,T=[z[k] for k in ['Xtr','ytr','Xdv','Xte','Ec','T']]
trn,dev,te=pickle.load(open('split.pkl','rb'))
N=len(ids)
def acc(S,xs,k=1):
    top=np.argsort(-S,1)[:,:k]
    return np.mean([any(ids[j] in x['ans'] for j in t) for t,x in zip(top,xs)])
def train(X,y,W0,scale=20.0,lr=0.003,epochs=30,bs=256,wd=0.0,seed=0,evalf=None):
    rng=np.random.default_rng(seed)
    W=W0.copy().astype(np.float32); b=np.zeros(N,np.float32)
    m=np.zeros_like(W); v=np.zeros_like(W); mb=np.zeros_like(b); vb=np.zeros_like(b); t=0
    for ep in range(epochs):
        p=rng.permutation(len(X))
        for i in range(0,len(X),bs):
            j=p[i:i+bs]; x=X[j]; L=scale*(x@W.T)+b; L-=L.max(1,keepdims=True); P=np.exp(L); P/=P.sum(1,keepdims=True)
            P[np.arange(len(j)),y[j]]-=1; P/=len(j)
            gW=scale*(P.T@x)+wd*(W-W0); gb=P.sum(0); t+=1
            for (a,g,mm,vv) in [(W,gW,m,v),(b,gb,mb,vb)]:
                mm*=0.9; mm+=0.1*g; vv*=0.999; vv+=0.001*g*g
                a-=lr*(mm/(1-0.9**t))/(np.sqrt(vv/(1-0.999**t))+1e-8)
        if evalf and (ep%5==4 or ep==epochs-1): evalf(ep,W,b)
    return W,b
X=np.concatenate([Xtr,Ec]); y=np.concatenate([ytr,np.arange(N)])
def ev(ep,W,b):
    print(ep,'dev',round(acc(Xdv@W.T*20+b,dev),4),round(acc(Xdv@W.T*20+b,dev,5),4),'test',round(acc(Xte@W.T*20+b,te),4),round(acc(Xte@W.T*20+b,te,5),4),flush=True)
for wd in [float(a) for a in sys.argv[1:]]:
    print('wd',wd)
    train(X,y,T,wd=wd,epochs=20,evalf=ev)
